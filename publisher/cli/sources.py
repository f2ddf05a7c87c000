"""`publisher sources`: list, fetch, import and export upstream feeds."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from publisher import SOURCES_FILE
from publisher.cli.app import main
from publisher.cli.common import Failed, report_content_errors, reports_errors, site_config
from publisher.clock import system_clock
from publisher.errors import PublisherError


@main.group(name="sources")
def sources_group() -> None:
    """List, fetch, import and export upstream feeds ([[sources]])."""


@sources_group.command(name="list")
@click.pass_context
@reports_errors
def sources_list(context: click.Context) -> None:
    """Show each source: URL, last fetch, status, items stored, next fetch, last error."""
    from rich.console import Console
    from rich.table import Table

    from publisher.sources.poll import source_states
    from publisher.store.database import open_store

    config = site_config(context)
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
    from publisher.sources.poll import poll_sources
    from publisher.store.database import open_store

    config = site_config(context)
    if not config.sources:
        raise Failed(f"error: {config.path}: no [[sources]] configured")
    names = [config.source(name).name] if name else None
    with open_store(config.store_url) as store:
        report = poll_sources(store, config, system_clock, names, force=True)
    for outcome in report.outcomes:
        if not outcome.error:
            click.echo(outcome.line())
    click.echo(report.summary())
    report_content_errors([PublisherError(line) for line in report.errors], config)


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
    from publisher.sources.opml import import_opml

    config = site_config(context)
    try:
        data = opml_file.read_bytes()
    except OSError as error:
        raise Failed(f"error: {opml_file}: cannot read: {error}") from None
    report = import_opml(config, data, str(opml_file), sources_file)
    click.echo(report.summary())
    report_content_errors([PublisherError(line) for line in report.errors], config)


@sources_group.command(name="export")
@click.pass_context
@reports_errors
def sources_export(context: click.Context) -> None:
    """Write every source as OPML 2.0 to standard output."""
    from publisher.sources.opml import render_opml
    from publisher.sources.poll import source_states
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        states = source_states(store)
    homes = {name: state.home_url for name, state in states.items() if state.home_url}
    document = render_opml(f"{config.site.title}: sources", config.sources, homes)
    click.echo(document.decode("utf-8"), nl=False)
