"""The `publisher` command: a thin shell over the library; errors become one red line."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from publisher.build import build
from publisher.config import DEFAULT_CONFIG_FILE, Config, load_config
from publisher.delivery import (
    SendOptions,
    SendReport,
    delivery_counts,
    editions_for_send,
    send_edition,
)
from publisher.dkim import check_published_key, load_signer
from publisher.editions import (
    create_edition,
    list_editions,
    preview_edition,
    write_missing_archives,
)
from publisher.errors import PublisherError
from publisher.gather import GatherReport, check_content, gather, system_clock
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
            raise Failed(f"error: {error}") from None

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
    """Validate the config and every article; write nothing."""
    config = _config(context)
    articles, errors = check_content(config)
    click.echo(
        f"check: config {config.path} is valid; {len(articles)} articles, {len(errors)} errors"
    )
    _check_dkim(config, dns)
    _report_content_errors(errors)


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
    _finish_gather(report)


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
                if outcome.edition is not None:
                    sent = send_edition(store, config, outcome.edition.id, os.environ)
                    click.echo(sent.summary())
    _report_content_errors(report.errors)


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
    if paths is None:
        click.echo(f"{chosen.name}: nothing new since the last edition; no preview written")
        return
    for path in paths:
        click.echo(str(path))


def _finish_gather(report: GatherReport) -> None:
    click.echo(report.summary())
    _report_content_errors(report.errors)


def _report_content_errors(errors: Sequence[PublisherError]) -> None:
    for error in errors:
        click.secho(str(error), fg="red", err=True)
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
        raise Failed(f"error: {csv_file}: cannot read: {error}") from None
    with open_store(config.store_url) as store:
        report = import_csv(store, text, [d.name for d in config.digests], system_clock())
    click.echo(report.summary())
    for problem in report.errors:
        click.secho(f"{csv_file}:{problem}", fg="red", err=True)
    if report.errors:
        raise SystemExit(1)


@subscribers_group.command(name="export")
@click.pass_context
@reports_errors
def subscribers_export(context: click.Context) -> None:
    """Write every subscriber as CSV to standard output."""
    config = _config(context)
    with open_store(config.store_url) as store:
        for line in export_csv(list_subscribers(store)):
            click.echo(line, nl=False)


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
    logging.getLogger("publisher.send").warning(
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
    """Serve the subscription pages, article pages, feeds and archive over HTTP."""
    from publisher.web import serve  # here: the other commands need not load Starlette

    serve(_config(context), host, port)
