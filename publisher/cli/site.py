"""`check`, `gather`, `build`, `publish`, `init` and `status`: the site as a whole."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from publisher.cli.app import main
from publisher.cli.common import (
    report_content_errors,
    reports_errors,
    shown_path,
    site_config,
    stopped_by_signals,
)
from publisher.clock import system_clock
from publisher.errors import PublisherError, StoreError
from publisher.wording import count

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.site.gather import GatherReport
    from publisher.store.database import Store

# Each command imports what it needs when it runs, so that `publisher --help` and every other
# command start without loading the libraries of all the rest.


@main.command()
@click.option("--dns", is_flag=True, help="Also compare the DKIM key published in DNS.")
@click.pass_context
@reports_errors
def check(context: click.Context, dns: bool) -> None:
    """Validate the config and every article, and render every digest; write nothing."""
    from publisher.mail.preflight import bounce_handling_warning, digest_problems
    from publisher.site.gather import check_content

    config = site_config(context)
    articles, content_errors = check_content(config)
    errors = [*content_errors, *digest_problems(config, articles, system_clock())]
    # "valid" only when nothing below is an error: an operator reads the first line.
    verdict = "is valid" if not errors else "has problems"
    click.echo(
        f"check: config {config.path} {verdict}; {count(len(articles), 'article')}, "
        f"{count(len(errors), 'error')}"
    )
    _check_languages(config)
    _check_dkim(config, dns)
    warning = bounce_handling_warning(config)
    if warning:
        click.echo(f"check: warning: {warning}")
    report_content_errors(errors, config)


def _check_languages(config: Config) -> None:
    from publisher.config import configured_languages
    from publisher.i18n.catalogs import language_warnings

    for warning in language_warnings(configured_languages(config), config.locale_dir):
        click.echo(f"check: warning: {warning}")


def _check_dkim(config: Config, dns: bool) -> None:
    from publisher.mail.transport.dkim import check_published_key, load_signer

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
    from publisher.site.gather import gather
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        report = gather(store, config)
    _finish_gather(report, config)


@main.command(name="build")
@click.pass_context
@reports_errors
def build_command(context: click.Context) -> None:
    """Write the feeds and the static site (`[site] output`) from the store."""
    from publisher.site.build import build
    from publisher.store.database import open_store
    from publisher.web.static import build_static_site

    config = site_config(context)
    with open_store(config.store_url) as store:
        click.echo(build(store, config).summary())
    click.echo(build_static_site(config, os.environ).summary())


@main.command()
@click.option(
    "--digest", "with_digest", is_flag=True, help="Also make the next edition of every digest."
)
@click.pass_context
@reports_errors
def publish(context: click.Context, with_digest: bool) -> None:
    """Gather, then build the feeds and the static site (and, with --digest, the digests'
    next editions). SIGTERM or SIGINT while it sends stops it as it stops `publisher send`."""
    # Most of what a publish makes (modules, every article's row and page) lives until it
    # ends: the cyclic collector would walk it again every 700 allocations.
    gc.set_threshold(50_000, 20, 20)
    from publisher.site.build import build
    from publisher.site.gather import gather
    from publisher.store.database import open_store
    from publisher.web.static import build_static_site

    config = site_config(context)
    with open_store(config.store_url) as store:
        report = gather(store, config)
        click.echo(report.summary())
        click.echo(build(store, config).summary())
        failed = False
        if with_digest:
            with stopped_by_signals("publisher.publish") as stop:
                failed = _publish_digests(store, config, stop.event)
            stop.end_if_stopped("publish")
        # After the digests: the static site holds their new editions' archive pages too.
        click.echo(build_static_site(config, os.environ).summary())
    report_content_errors(report.all_errors(), config)
    if failed:
        raise SystemExit(1)


def _publish_digests(store: Store, config: Config, stop: threading.Event) -> bool:
    """Make and send each digest's next edition; one that fails is reported in red and never
    stops the others, `stop` (a signal) stops them all. Whether any failed."""
    from publisher.mail.delivery.send import send_edition
    from publisher.mail.editions import create_edition

    failed = False
    for digest in config.digests:
        if stop.is_set():
            break
        try:
            outcome = create_edition(store, config, digest.name)
            click.echo(outcome.message)
            for edition in outcome.editions:
                sent = send_edition(store, config, edition.id, os.environ, stop=stop)
                click.echo(sent.summary())
        except StoreError:
            raise
        except PublisherError as error:
            click.secho(f"error: digest {digest.name}: {error}", fg="red", err=True)
            failed = True
    return failed


def _finish_gather(report: GatherReport, config: Config) -> None:
    click.echo(report.summary())
    report_content_errors(report.all_errors(), config)


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
    from publisher.site.newsite import PLACEHOLDERS, SiteAnswers, create_site

    answers = {
        "--title": _answer(title, "Title", PLACEHOLDERS.title),
        "--url": _answer(url, "Site URL", PLACEHOLDERS.url),
        "--from": _answer(sender, "Digests from", PLACEHOLDERS.sender),
        "--postal-address": _answer(postal_address, "Postal address", PLACEHOLDERS.postal_address),
    }
    chosen = SiteAnswers(*(value for value, _ in answers.values()))
    written = create_site(folder, chosen, system_clock(), with_templates=templates)
    shown = shown_path(folder)
    click.echo(f"init: made a new site in {shown} ({count(len(written), 'file')})")
    guessed = [option for option, (_, placeholder) in answers.items() if placeholder]
    if guessed:
        config_file = shown_path(folder / "config.toml")
        click.echo(f"init: placeholders for {', '.join(guessed)}: edit {config_file}")
    step = "" if shown == "." else f"cd {shown} && "
    click.echo(f"next: {step}publisher publish --digest && publisher serve")


@main.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON, for monitoring.")
@click.pass_context
@reports_errors
def status_command(context: click.Context, as_json: bool) -> None:
    """Show where things stand: articles, editions and deliveries, subscribers, the daemon."""
    from publisher.status import site_status, status_document, status_lines
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        status = site_status(config, store, shown_path)
    if as_json:
        click.echo(json.dumps(status_document(status), indent=2, ensure_ascii=False))
        return
    for line in status_lines(status, config.site.zone):
        click.echo(line)
