"""The `publisher` command: a thin shell over the library; errors become one red line."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from publisher.build import build
from publisher.config import DEFAULT_CONFIG_FILE, SOURCES_FILE, Config, load_config
from publisher.delivery import (
    SendOptions,
    SendReport,
    delivery_counts,
    editions_for_send,
    send_edition,
)
from publisher.dkim import check_published_key, load_signer
from publisher.editions import (
    NO_ARTICLES_YET,
    any_article_gathered,
    create_edition,
    list_editions,
    preview_edition,
    write_missing_archives,
)
from publisher.errors import ContentError, PublisherError
from publisher.forgetting import (
    forget_address,
    forgotten_hashes,
    import_suppression,
    refuse_forgotten,
)
from publisher.gather import GatherReport, check_content, gather, system_clock
from publisher.preflight import digest_problems
from publisher.proofs import send_proofs
from publisher.scheduler import LOG_FORMAT, planned_jobs, run_daemon
from publisher.store import SUBSCRIBER_STATUSES, Store, open_store
from publisher.subscribers import (
    add_subscriber,
    check_digests,
    export_csv,
    import_csv,
    list_subscribers,
    remove_subscriber,
)
from publisher.tokens import load_secret
from publisher.wording import count

F = TypeVar("F", bound=Callable[..., Any])


class Failed(click.ClickException):
    """An error already described to the user; exits non-zero without a traceback."""

    def show(self, file: Any = None) -> None:
        click.secho(self.message, fg="red", err=True)


def reports_errors(command: F) -> F:
    """Turn a PublisherError into one red line and exit status 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PublisherError as error:
            raise Failed(f"error: {_user_paths(str(error))}") from None

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG_FILE,
    envvar="PUBLISHER_CONFIG",
    show_default=True,
    help="The site's config file (env PUBLISHER_CONFIG).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="Default: info for `run`, warning otherwise.",
)
@click.version_option(package_name="publisher")
@click.pass_context
def main(context: click.Context, config_path: Path, log_level: str | None) -> None:
    """Publish Markdown articles as RSS, Atom and JSON feeds and email digests."""
    daemon = context.invoked_subcommand == "run"
    level = (log_level or ("info" if daemon else "warning")).upper()
    log_format = LOG_FORMAT if daemon else "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=log_format, stream=sys.stderr)
    if level != "DEBUG":
        # Our own job lines say what these would, once.
        for chatty in ("alembic", "apscheduler.executors", "apscheduler.scheduler"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    context.obj = config_path


def _config(context: click.Context) -> Config:
    return load_config(context.find_root().obj, os.environ)


@main.command()
@click.option("--dns", is_flag=True, help="Also compare the DKIM key published in DNS.")
@click.pass_context
@reports_errors
def check(context: click.Context, dns: bool) -> None:
    """Validate the config and every article, and render every digest; write nothing."""
    config = _config(context)
    articles, content_errors = check_content(config)
    errors = [*content_errors, *digest_problems(config, articles, system_clock())]
    click.echo(
        f"check: config {config.path} is valid; {count(len(articles), 'article')}, "
        f"{count(len(errors), 'error')}"
    )
    _check_dkim(config, dns)
    _report_content_errors(errors, config)


def _check_dkim(config: Config, dns: bool) -> None:
    signer = load_signer(config, os.environ)
    if signer is None:
        return
    name = f"{signer.selector}._domainkey.{signer.domain}"
    click.echo(f"check: DKIM key for {name} loads ({signer.algorithm})")
    if dns:
        click.echo(f"check: {check_published_key(signer)}")


@main.command(name="gather")
@click.pass_context
@reports_errors
def gather_command(context: click.Context) -> None:
    """Bring the store in line with the content folder."""
    config = _config(context)
    with open_store(config.store_url) as store:
        report = gather(store, config)
    _finish_gather(report, config)


@main.command(name="build")
@click.pass_context
@reports_errors
def build_command(context: click.Context) -> None:
    """Write the feeds from the store."""
    config = _config(context)
    with open_store(config.store_url) as store:
        click.echo(build(store, config).summary())


@main.command()
@click.option(
    "--digest", "with_digest", is_flag=True, help="Also make the next edition of every digest."
)
@click.pass_context
@reports_errors
def publish(context: click.Context, with_digest: bool) -> None:
    """Gather, then build the feeds (and, with --digest, the digests' next editions)."""
    config = _config(context)
    with open_store(config.store_url) as store:
        report = gather(store, config)
        click.echo(report.summary())
        click.echo(build(store, config).summary())
        if with_digest:
            for digest in config.digests:
                outcome = create_edition(store, config, digest.name)
                click.echo(outcome.message)
                for edition in outcome.editions:
                    sent = send_edition(store, config, edition.id, os.environ)
                    click.echo(sent.summary())
    _report_content_errors(report.all_errors(), config)


@main.group()
def digest() -> None:
    """Make, list and preview digest editions."""


@digest.command(name="create")
@click.argument("name", required=False)
@click.option("--slot", help="A schedule slot key: a second call with the same slot makes nothing.")
@click.pass_context
@reports_errors
def digest_create(context: click.Context, name: str | None, slot: str | None) -> None:
    """Freeze the next edition of digest NAME (default: every digest)."""
    config = _config(context)
    names = [config.digest(name).name] if name else [d.name for d in config.digests]
    if not names:
        raise Failed(f"error: {config.path}: no [[digests]] configured")
    with open_store(config.store_url) as store:
        write_missing_archives(store, config)
        for each in names:
            click.echo(create_edition(store, config, each, slot=slot).message)


@digest.command(name="list")
@click.option("--digest", "name", help="Only this digest's editions.")
@click.pass_context
@reports_errors
def digest_list(context: click.Context, name: str | None) -> None:
    """Show editions: id, digest, number, created, articles, delivery counts, subject."""
    config = _config(context)
    if name:
        config.digest(name)
    with open_store(config.store_url) as store:
        found = list_editions(store, name)
        counts = delivery_counts(store)
    table = Table("id", "digest", "#", "created", "articles", "deliveries", "subject", box=None)
    zone = config.site.zone
    for edition in found:
        created = edition.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        table.add_row(
            str(edition.id),
            edition.digest,
            str(edition.number),
            created,
            str(len(edition.article_guids)),
            _delivery_line(counts.get(edition.id)),
            edition.subject,
        )
    Console(highlight=False).print(table if found else "no editions yet")


def _delivery_line(counts: dict[str, int] | None) -> str:
    if not counts:
        return "not sent"
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


@digest.command(name="preview")
@click.argument("name", required=False)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for preview.html and preview.txt.",
)
@click.pass_context
@reports_errors
def digest_preview(context: click.Context, name: str | None, out_dir: Path) -> None:
    """Render the next edition of NAME (default: the first digest) without storing it."""
    config = _config(context)
    if not config.digests:
        raise Failed(f"error: {config.path}: no [[digests]] configured")
    chosen = config.digest(name) if name else config.digests[0]
    with open_store(config.store_url) as store:
        paths = preview_edition(store, config, chosen.name, out_dir)
        gathered = paths is not None or any_article_gathered(store)
    if paths is None:
        reason = "nothing new since the last edition" if gathered else NO_ARTICLES_YET
        click.echo(f"{chosen.name}: {reason}; no preview written")
        return
    for path in paths:
        click.echo(str(path))


@digest.command(name="send-test")
@click.argument("name")
@click.option(
    "--to",
    "addresses",
    multiple=True,
    required=True,
    help="An address to send the test to (repeat for more).",
)
@click.pass_context
@reports_errors
def digest_send_test(context: click.Context, name: str, addresses: tuple[str, ...]) -> None:
    """Mail the next edition of NAME (or the latest), marked [TEST], to each --to address.

    Nothing is recorded: no edition, no watermark move, no ledger row.
    """
    config = _config(context)
    with open_store(config.store_url) as store:
        click.echo(send_proofs(store, config, name, addresses, os.environ).summary())


def _finish_gather(report: GatherReport, config: Config) -> None:
    click.echo(report.summary())
    _report_content_errors(report.all_errors(), config)


def _report_content_errors(errors: Sequence[PublisherError], config: Config) -> None:
    for error in errors:
        if isinstance(error, ContentError):
            line = error.located(_shown(config.content_dir / error.path))
        else:
            line = _user_paths(str(error))
        click.secho(line, fg="red", err=True)
    if errors:
        raise SystemExit(1)


@main.group(name="subscribers")
def subscribers_group() -> None:
    """Add, remove, list, import and export subscribers."""


@subscribers_group.command(name="add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name.")
@click.option(
    "--digest", "digests", multiple=True, help="A digest to receive (repeat; default all)."
)
@click.pass_context
@reports_errors
def subscribers_add(
    context: click.Context, email: str, name: str, digests: tuple[str, ...]
) -> None:
    """Add EMAIL as a confirmed subscriber (the operator vouches for it)."""
    config = _config(context)
    chosen = check_digests(digests, [d.name for d in config.digests])
    with open_store(config.store_url) as store:
        refuse_forgotten(store, _secret(config), email)
        subscriber, created = add_subscriber(store, email, name, chosen, system_clock())
    verb = "added" if created else "updated"
    click.echo(f"{verb} {subscriber.email} ({subscriber.status}; {', '.join(subscriber.digests)})")


@subscribers_group.command(name="remove")
@click.argument("email")
@click.pass_context
@reports_errors
def subscribers_remove(context: click.Context, email: str) -> None:
    """Unsubscribe EMAIL: it is never mailed again unless it subscribes again."""
    config = _config(context)
    with open_store(config.store_url) as store:
        subscriber = remove_subscriber(store, email, system_clock())
    click.echo(f"unsubscribed {subscriber.email}")


@subscribers_group.command(name="list")
@click.option("--status", type=click.Choice(SUBSCRIBER_STATUSES), help="Only this status.")
@click.option("--digest", "digest_name", help="Only this digest's subscribers.")
@click.pass_context
@reports_errors
def subscribers_list(context: click.Context, status: str | None, digest_name: str | None) -> None:
    """Show subscribers: email, name, status, digests."""
    config = _config(context)
    if digest_name:
        config.digest(digest_name)
    with open_store(config.store_url) as store:
        found = list_subscribers(store, status, digest_name)
    table = Table("email", "name", "status", "digests", box=None)
    for subscriber in found:
        table.add_row(
            subscriber.email, subscriber.name, subscriber.status, " ".join(subscriber.digests)
        )
    Console(highlight=False).print(table if found else "no subscribers")


@subscribers_group.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@reports_errors
def subscribers_import(context: click.Context, csv_file: Path) -> None:
    """Import CSV_FILE (header: email,name,digests); bad rows are reported, the rest imported."""
    config = _config(context)
    try:
        text = csv_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise Failed(f"error: {_shown(csv_file)}: cannot read: {error}") from None
    with open_store(config.store_url) as store:
        suppression = import_suppression(store, _secret(config), system_clock())
        report = import_csv(
            store, text, [d.name for d in config.digests], system_clock(), suppression
        )
    click.echo(report.summary())
    for problem in report.errors:
        # Each problem starts "line N: ", shown as FILE:N: like an article's.
        click.secho(f"{_shown(csv_file)}:{problem.removeprefix('line ')}", fg="red", err=True)
    if report.errors:
        raise SystemExit(1)


@subscribers_group.command(name="export")
@click.pass_context
@reports_errors
def subscribers_export(context: click.Context) -> None:
    """Write every subscriber as CSV to standard output."""
    config = _config(context)
    with open_store(config.store_url) as store:
        for line in export_csv(list_subscribers(store), forgotten_hashes(store)):
            click.echo(line, nl=False)


@main.group(name="sources")
def sources_group() -> None:
    """List, fetch, import and export upstream feeds ([[sources]])."""


@sources_group.command(name="list")
@click.pass_context
@reports_errors
def sources_list(context: click.Context) -> None:
    """Show each source: URL, last fetch, status, items stored, next fetch, last error."""
    from publisher.upstream import source_states

    config = _config(context)
    with open_store(config.store_url) as store:
        states = source_states(store)
    zone = config.site.zone
    table = Table("name", "url", "last fetch", "status", "items", "next fetch", "error", box=None)
    for source in config.sources:
        state = states.get(source.name)
        if state is None:
            table.add_row(source.name, source.url, "never", "", "0", "now", "")
            continue
        status = "disabled" if state.disabled else state.last_status or ""
        table.add_row(
            source.name,
            state.url,
            _local_time(state.last_fetch_at, zone),
            status,
            str(state.items),
            _local_time(state.next_fetch_at, zone) if not state.disabled else "never",
            state.last_error or "",
        )
    Console(highlight=False).print(table if config.sources else "no [[sources]] configured")


def _local_time(when: datetime | None, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if when else "never"


@sources_group.command(name="fetch")
@click.argument("name", required=False)
@click.pass_context
@reports_errors
def sources_fetch(context: click.Context, name: str | None) -> None:
    """Fetch source NAME (default: every source) now, due or not, and store its items."""
    from publisher.upstream import poll_sources

    config = _config(context)
    if not config.sources:
        raise Failed(f"error: {config.path}: no [[sources]] configured")
    names = [config.source(name).name] if name else None
    with open_store(config.store_url) as store:
        report = poll_sources(store, config, system_clock, names, force=True)
    for outcome in report.outcomes:
        if not outcome.error:
            click.echo(outcome.line())
    click.echo(report.summary())
    _report_content_errors([PublisherError(line) for line in report.errors], config)


@sources_group.command(name="import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--sources-file",
    is_flag=True,
    help=f"Write to {SOURCES_FILE} beside the config (the default when it exists).",
)
@click.pass_context
@reports_errors
def sources_import(context: click.Context, opml_file: Path, sources_file: bool) -> None:
    """Add the feeds of OPML_FILE (a feed reader's export) as [[sources]]."""
    from publisher.opml import import_opml

    config = _config(context)
    try:
        data = opml_file.read_bytes()
    except OSError as error:
        raise Failed(f"error: {opml_file}: cannot read: {error}") from None
    report = import_opml(config, data, str(opml_file), sources_file)
    click.echo(report.summary())
    _report_content_errors([PublisherError(line) for line in report.errors], config)


@sources_group.command(name="export")
@click.pass_context
@reports_errors
def sources_export(context: click.Context) -> None:
    """Write every source as OPML 2.0 to standard output."""
    from publisher.opml import render_opml
    from publisher.upstream import source_states

    config = _config(context)
    with open_store(config.store_url) as store:
        states = source_states(store)
    homes = {name: state.home_url for name, state in states.items() if state.home_url}
    document = render_opml(f"{config.site.title}: sources", config.sources, homes)
    click.echo(document.decode("utf-8"), nl=False)


@subscribers_group.command(name="forget")
@click.argument("email")
@click.pass_context
@reports_errors
def subscribers_forget(context: click.Context, email: str) -> None:
    """Erase EMAIL's personal data on request, keeping a keyed hash so it is never re-added."""
    config = _config(context)
    with open_store(config.store_url) as store:
        found = forget_address(store, _secret(config), email, system_clock())
    if found:
        click.echo("forgot the subscriber: name, address and ledger details erased")
    else:
        click.echo("no such subscriber; the address is kept as forgotten, so no import adds it")


def _secret(config: Config) -> bytes:
    return load_secret(config.web.secret_env, config.path.resolve().parent, os.environ)


@main.command()
@click.argument("edition_id", type=int, required=False)
@click.option("--force", is_flag=True, help="Send an edition even if it is older than max_age.")
@click.option(
    "--retry-uncertain",
    is_flag=True,
    help="Send again, with the same Message-ID, what a timeout left uncertain.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Send again what failed only temporarily (attempts ran out); never hard bounces.",
)
@click.pass_context
@reports_errors
def send(
    context: click.Context,
    edition_id: int | None,
    force: bool,
    retry_uncertain: bool,
    retry_failed: bool,
) -> None:
    """Deliver EDITION_ID (default: every edition not fully delivered) to its subscribers.

    Without EDITION_ID, --retry-uncertain and --retry-failed look in every edition.
    """
    config = _config(context)
    options = SendOptions(force=force, retry_uncertain=retry_uncertain, retry_failed=retry_failed)
    with open_store(config.store_url) as store:
        chosen = [edition_id] if edition_id is not None else editions_for_send(store, options)
        if not chosen:
            click.echo("send: every edition is delivered")
        failed = False
        for each in chosen:
            report = _send_with_progress(store, config, each, options)
            click.echo(report.summary())
            failed = failed or report.counts.get("failed", 0) > 0
            failed = failed or report.remaining.need_a_decision
    if failed:
        raise SystemExit(1)


def _send_with_progress(
    store: Store, config: Config, edition_id: int, options: SendOptions
) -> SendReport:
    if not sys.stderr.isatty():
        return send_edition(store, config, edition_id, os.environ, options, progress=_log_batch)
    columns = (
        TextColumn("edition {task.fields[edition]}"),
        BarColumn(),
        TextColumn("{task.fields[sent]} sent, {task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]:.0f}/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("send", total=None, edition=edition_id, sent=0, failed=0, rate=0.0)
        started = time.monotonic()

        def update(report: SendReport) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, sent=report.sent, failed=report.failed, rate=report.sent / elapsed)

        return send_edition(store, config, edition_id, os.environ, options, progress=update)


def _log_batch(report: SendReport) -> None:
    logging.getLogger("publisher.send").info(
        "edition %s: %s sent, %s failed, %s uncertain so far",
        report.edition_id,
        report.sent,
        report.failed,
        report.uncertain,
    )


@main.command(name="run")
@click.pass_context
@reports_errors
def run_command(context: click.Context) -> None:
    """Run the publishing daemon: publish on an interval, make and send digests on schedule.

    A second `publisher run` on the same store waits as a standby. SIGTERM or SIGINT lets a
    running send finish its batch, then exits 0.
    """
    config_path = context.find_root().obj
    load_config(config_path, os.environ)  # a bad config fails here, naming the key
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logging.getLogger("publisher.run").info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run_daemon(config_path, os.environ, stop)


@main.command(name="schedule")
@click.pass_context
@reports_errors
def schedule_command(context: click.Context) -> None:
    """List the jobs `publisher run` schedules and their next run times; start nothing."""
    config = _config(context)
    table = Table("job", "schedule", "timezone", f"next run ({config.site.timezone})", box=None)
    for job in planned_jobs(config, system_clock()):
        next_run = "never"
        if job.next_run is not None:
            next_run = job.next_run.astimezone(config.site.zone).strftime("%Y-%m-%d %H:%M %Z")
        table.add_row(job.job, job.schedule, job.timezone, next_run)
    Console(highlight=False).print(table)


@main.command(name="serve")
@click.option("--host", default=None, help="Address to listen on (default: [web] host).")
@click.option("--port", type=int, default=None, help="Port (default: [web] port).")
@click.pass_context
@reports_errors
def serve_command(context: click.Context, host: str | None, port: int | None) -> None:
    """Serve the subscription pages, article pages, feeds and archive over HTTP.

    Prints the URL it listens on; SIGTERM or SIGINT stops it with exit status 0.
    """
    from publisher.web import serve  # here: the other commands need not load Starlette

    serve(
        _config(context), host, port, announce=lambda url: click.echo(f"serve: listening on {url}")
    )


# Inbound mail: bounces, complaints, mailto unsubscribes ------------------------------------

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again


@subscribers_group.command(name="show")
@click.argument("email")
@click.pass_context
@reports_errors
def subscribers_show(context: click.Context, email: str) -> None:
    """Show EMAIL's status, digests and every bounce, complaint and unsubscribe event."""
    from publisher.inbound.apply import subscriber_events
    from publisher.subscribers import find_subscriber

    config = _config(context)
    with open_store(config.store_url) as store:
        subscriber = find_subscriber(store, email)
        if subscriber is None:
            raise Failed(f"error: no subscriber {email}")
        found = subscriber_events(store, subscriber.id)
    zone = config.site.zone
    click.echo(f"{subscriber.email} ({subscriber.name or 'no name'}): {subscriber.status}")
    click.echo(f"digests: {' '.join(subscriber.digests) or 'none'}")
    click.echo(f"bounces counted: {subscriber.hard_bounces} of {config.delivery.bounce_limit}")
    click.echo(f"since: {subscriber.created_at.astimezone(zone):%Y-%m-%d %H:%M %Z}")
    table = Table("when", "event", "code", "source", "edition", "detail", box=None)
    for event in found:
        table.add_row(
            event.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
            event.kind.replace("_", " "),
            event.code,
            event.source,
            "" if event.edition_id is None else str(event.edition_id),
            event.diagnostic if event.digest is None else f"{event.digest}: {event.diagnostic}",
        )
    Console(highlight=False, width=200).print(table if found else "no events")


@main.command(name="inbound")
@click.argument("source", required=False)
@click.option(
    "--maildir",
    "maildir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read this Maildir instead of the configured mailboxes.",
)
@click.pass_context
def inbound_command(context: click.Context, source: str | None, maildir: Path | None) -> None:
    """Read bounces, complaints and mailto unsubscribes and apply them to subscribers.

    With SOURCE `-`, read one message from standard input (for an MTA's pipe transport; exit
    75 on a temporary failure so the MTA retries). Otherwise read `--maildir`, or the
    configured `[inbound] maildir` and IMAP folder.
    """
    from publisher.inbound.readers import Inbound, InboundReport, read_one

    if source not in (None, "-"):
        raise Failed(f"error: unknown source {source!r}: use - for standard input")
    if source == "-":
        try:
            config = _config(context)
            raw = sys.stdin.buffer.read()
            with open_store(config.store_url) as store:
                read_one(Inbound(store, config, os.environ, system_clock), raw, InboundReport())
        except Exception as error:  # any failure: the MTA keeps the message and retries
            click.secho(f"error: {error}", fg="red", err=True)
            raise SystemExit(EX_TEMPFAIL) from None
        return
    _inbound_mailboxes(context, maildir)


@reports_errors
def _inbound_mailboxes(context: click.Context, maildir: Path | None) -> None:
    from publisher.inbound.mailboxes import has_mailbox, read_mailboxes
    from publisher.inbound.readers import Inbound, InboundReport, read_maildir

    config = _config(context)
    with open_store(config.store_url) as store:
        inbound = Inbound(store, config, os.environ, system_clock)
        if maildir is not None:
            report = read_maildir(inbound, maildir, InboundReport())
        elif has_mailbox(inbound):
            report = read_mailboxes(inbound, os.environ)
        else:
            raise Failed(
                f"error: {config.path}: no [inbound] maildir or imap_host; or use --maildir"
            )
    click.echo(report.summary())
    for problem in report.errors:
        click.secho(problem, fg="red", err=True)
    if report.errors:
        raise SystemExit(1)


# `publisher init` and `publisher status`: the operator's first hour ---------------------------


def _user_paths(message: str) -> str:
    """`message` with paths inside the current folder written relative to it."""
    here = str(Path.cwd())
    if here == os.sep:
        return message
    return message.replace(here + os.sep, "")


def _shown(path: Path) -> str:
    """`path` as the user would type it from the current folder."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def _answer(given: str | None, label: str, placeholder: str) -> tuple[str, bool]:
    """The option's value, else an answer on a terminal, else the placeholder (and True)."""
    if given is not None:
        return given, False
    if sys.stdin.isatty():
        return click.prompt(label, default=placeholder), False
    return placeholder, True


@main.command(name="init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--title", help="The publication's name.")
@click.option("--url", help="The site's absolute URL, e.g. https://news.example.org/.")
@click.option("--from", "sender", help='Who digests come from: "Name <address>".')
@click.option("--postal-address", help="Printed in every digest, as anti-spam laws require.")
@click.option("--templates", is_flag=True, help="Also copy the bundled templates, to edit.")
@reports_errors
def init_command(
    folder: Path,
    title: str | None,
    url: str | None,
    sender: str | None,
    postal_address: str | None,
    templates: bool,
) -> None:
    """Make a new site in FOLDER (default: here) that publishes at once."""
    from publisher.newsite import PLACEHOLDERS, SiteAnswers, create_site

    answers = {
        "--title": _answer(title, "Title", PLACEHOLDERS.title),
        "--url": _answer(url, "Site URL", PLACEHOLDERS.url),
        "--from": _answer(sender, "Digests from", PLACEHOLDERS.sender),
        "--postal-address": _answer(postal_address, "Postal address", PLACEHOLDERS.postal_address),
    }
    chosen = SiteAnswers(*(value for value, _ in answers.values()))
    written = create_site(folder, chosen, system_clock(), with_templates=templates)
    shown = _shown(folder)
    click.echo(f"init: made a new site in {shown} ({count(len(written), 'file')})")
    guessed = [option for option, (_, placeholder) in answers.items() if placeholder]
    if guessed:
        click.echo(
            f"init: placeholders for {', '.join(guessed)}: edit {_shown(folder / 'config.toml')}"
        )
    step = "" if shown == "." else f"cd {shown} && "
    click.echo(f"next: {step}publisher publish --digest && publisher serve")


@main.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON, for monitoring.")
@click.pass_context
@reports_errors
def status_command(context: click.Context, as_json: bool) -> None:
    """Show where things stand: articles, editions and deliveries, subscribers, the daemon."""
    from publisher.status import site_status, status_document, status_lines

    config = _config(context)
    with open_store(config.store_url) as store:
        status = site_status(config, store, _shown)
    if as_json:
        click.echo(json.dumps(status_document(status), indent=2, ensure_ascii=False))
        return
    for line in status_lines(status, config.site.zone):
        click.echo(line)
