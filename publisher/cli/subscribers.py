"""`publisher subscribers`: add, remove, list, import, export, forget and show."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from publisher.cli.app import main
from publisher.cli.common import Failed, reports_errors, shown_path, site_config
from publisher.clock import system_clock
from publisher.store.statuses import SubscriberStatus

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.store.database import Store
    from publisher.store.subscribers import SubscriberFilter, SubscriberRow

# The values, not the members: click matches an enum's members by their upper-case names.
STATUS_NAMES = [status.value for status in SubscriberStatus]
TERMINAL_PAGE = 50  # rows `subscribers list` shows on a terminal without --limit
SEARCH_PAGE = 1_000  # rows searched at a time when the output is not a terminal


@main.group(name="subscribers")
def subscribers_group() -> None:
    """Add, remove, list, import and export subscribers."""


@subscribers_group.command(name="add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name.")
@click.option(
    "--digest", "digests", multiple=True, help="A digest to receive (repeat; default all)."
)
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Confirm EMAIL again though it unsubscribed or bounced (you vouch for its consent).",
)
@click.pass_context
@reports_errors
def subscribers_add(
    context: click.Context, email: str, name: str, digests: tuple[str, ...], resubscribe: bool
) -> None:
    """Add EMAIL as a confirmed subscriber (the operator vouches for it).

    Someone who unsubscribed or bounced is refused unless --resubscribe is given.
    """
    from publisher.audience.forgetting import refuse_forgotten
    from publisher.audience.subscribers import add_subscriber, check_digests
    from publisher.store.database import open_store

    config = site_config(context)
    chosen = check_digests(digests, [d.name for d in config.digests])
    with open_store(config.store_url) as store:
        refuse_forgotten(store, _secret(config), email)
        subscriber, created = add_subscriber(
            store, email, name, chosen, system_clock(), resubscribe=resubscribe
        )
    verb = "added" if created else "updated"
    click.echo(f"{verb} {subscriber.email} ({subscriber.status}; {', '.join(subscriber.digests)})")


@subscribers_group.command(name="remove")
@click.argument("email")
@click.pass_context
@reports_errors
def subscribers_remove(context: click.Context, email: str) -> None:
    """Unsubscribe EMAIL: it is never mailed again unless it subscribes again."""
    from publisher.audience.subscribers import remove_subscriber
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        subscriber = remove_subscriber(store, email, system_clock())
    click.echo(f"unsubscribed {subscriber.email}")


@subscribers_group.command(name="list")
@click.option("--status", type=click.Choice(STATUS_NAMES), help="Only this status.")
@click.option("--digest", "digest_name", help="Only this digest's subscribers.")
@click.option(
    "--search", help="Addresses starting with it (in address order), then names with its words."
)
@click.option("--after", type=click.IntRange(min=0), default=0, help="Only ids above this one.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help=f"At most this many (default: all, or {TERMINAL_PAGE} on a terminal).",
)
@click.pass_context
@reports_errors
def subscribers_list(
    context: click.Context,
    status: str | None,
    digest_name: str | None,
    search: str | None,
    after: int,
    limit: int | None,
) -> None:
    """Show subscribers in id order: id, email, name, status, digests.

    On a terminal, a table of one page and the option that shows the next; otherwise one
    tab-separated line each, streamed, however many there are. With --search, the addresses
    starting with it (in address order), then the names with words starting with its words.
    """
    from publisher.store.database import open_store
    from publisher.store.subscribers import SubscriberFilter

    config = site_config(context)
    if digest_name:
        config.digest(digest_name)
    if search is not None and after:
        raise click.UsageError("--after pages a listing in id order, not a --search")
    chosen = SubscriberFilter(status, digest_name)
    on_terminal = sys.stdout.isatty()
    if limit is None and on_terminal:
        limit = TERMINAL_PAGE
    with open_store(config.store_url) as store:
        found = _listed(store, chosen, search, after, limit)
        if on_terminal:
            _show_page(list(found), limit)
        else:
            for lines in _chunks((_plain_row(row) for row in found), 1_000):
                click.echo("".join(lines), nl=False)


def _listed(
    store: Store,
    chosen: SubscriberFilter,
    search: str | None,
    after: int,
    limit: int | None,
) -> Iterator[SubscriberRow]:
    """The rows `subscribers list` shows, streamed from one cursor or searched a page at a
    time: memory stays flat either way."""
    from publisher.store.subscribers import streamed_subscribers

    if search is None:
        with store.read() as connection:
            yield from itertools.islice(streamed_subscribers(connection, chosen, after), limit)
        return
    yield from itertools.islice(_searched(store, chosen, search), limit)


def _searched(store: Store, chosen: SubscriberFilter, text: str) -> Iterator[SubscriberRow]:
    """Every subscriber `search_subscribers` would show first: the addresses starting with
    `text` in address order, then the names with its words in id order, a page at a time."""
    from publisher.store.subscribers import (
        subscribers_by_address_prefix,
        subscribers_by_name_words,
    )

    shown: set[int] = set()
    text = text.strip()
    if text and not any(character.isspace() for character in text):
        last = ""
        while page := _page(store, subscribers_by_address_prefix, text, chosen, last):
            shown.update(row.id for row in page)
            yield from page
            last = page[-1].address_key
    if "@" not in text:
        after = 0
        while page := _page(store, subscribers_by_name_words, text, chosen, after):
            yield from (row for row in page if row.id not in shown)
            after = page[-1].id


def _page(
    store: Store,
    search: Callable[..., list[SubscriberRow]],
    text: str,
    chosen: SubscriberFilter,
    after: object,
) -> list[SubscriberRow]:
    with store.read() as connection:
        rows: list[SubscriberRow] = search(connection, text, chosen, after, SEARCH_PAGE)
    return rows


def _plain_row(row: SubscriberRow) -> str:
    return f"{row.id}\t{row.email}\t{row.name}\t{row.status}\t{' '.join(row.digests)}\n"


def _show_page(rows: list[SubscriberRow], limit: int | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, markup=False)  # names are data, never markup
    if not rows:
        console.print("no subscribers")
        return
    table = Table("id", "email", "name", "status", "digests", box=None)
    for row in rows:
        table.add_row(str(row.id), row.email, row.name, row.status, " ".join(row.digests))
    console.print(table)
    if limit is not None and len(rows) == limit:
        console.print(f"next page: --after {rows[-1].id}")


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(lines)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@subscribers_group.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@reports_errors
def subscribers_import(context: click.Context, csv_file: Path) -> None:
    """Import CSV_FILE (header: email,name,digests); bad rows are reported, the rest imported.

    Large files are imported a batch at a time; if an import is stopped, run it again: it
    ends as one uninterrupted import would have.
    """
    from publisher.audience.forgetting import import_suppression
    from publisher.audience.imports import import_csv
    from publisher.store.database import open_store

    config = site_config(context)
    shown = shown_path(csv_file)
    try:
        # Undecodable bytes are kept as such, to be reported with their row's line.
        text = csv_file.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as error:
        raise Failed(f"error: {shown}: cannot read: {error}") from None
    with text, open_store(config.store_url) as store:
        report = import_csv(
            store,
            text,
            [d.name for d in config.digests],
            system_clock(),
            import_suppression(_secret(config), system_clock()),
            source_name=str(csv_file.resolve()),
            workers=_import_workers(),
        )
    if report.resumed_after is not None:
        click.echo(
            f"an earlier import of {shown} stopped after {report.resumed_after} rows; "
            "this one went through the whole file again and finished it"
        )
    click.echo(report.summary())
    for problem in report.errors:
        # Each problem starts "line N: ", shown as FILE:N: like an article's.
        click.secho(f"{shown}:{problem.removeprefix('line ')}", fg="red", err=True)
    if report.errors:
        raise SystemExit(1)


def _import_workers() -> int:
    """Processes that check a large import's rows: every core but the one writing."""
    return max(1, (os.cpu_count() or 1) - 1)


@subscribers_group.command(name="export")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "json"]),
    default="csv",
    help="CSV (what `subscribers import` reads), or JSON Lines.",
)
@click.option("--status", type=click.Choice(STATUS_NAMES), help="Only this status.")
@click.option("--digest", "digest_name", help="Only this digest's subscribers.")
@click.pass_context
@reports_errors
def subscribers_export(
    context: click.Context, output_format: str, status: str | None, digest_name: str | None
) -> None:
    """Write every subscriber to standard output, streamed: CSV or JSON Lines."""
    from publisher.audience.exports import export_csv, export_json_lines
    from publisher.audience.forgetting import forgotten_hashes
    from publisher.store.database import open_store
    from publisher.store.subscribers import SubscriberFilter, streamed_subscribers

    config = site_config(context)
    if digest_name:
        config.digest(digest_name)
    chosen = SubscriberFilter(status, digest_name)
    write = export_json_lines if output_format == "json" else export_csv
    with open_store(config.store_url) as store, store.read() as connection:
        # Forgotten hashes only in a whole export: they belong to no status or digest.
        forgotten = forgotten_hashes(connection) if chosen == SubscriberFilter() else iter(())
        for chunk in write(streamed_subscribers(connection, chosen), forgotten):
            click.echo(chunk, nl=False)


@subscribers_group.command(name="forget")
@click.argument("email")
@click.pass_context
@reports_errors
def subscribers_forget(context: click.Context, email: str) -> None:
    """Erase EMAIL's personal data on request, keeping a keyed hash so it is never re-added."""
    from publisher.audience.forgetting import forget_address
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        found = forget_address(store, _secret(config), email, system_clock())
    if found:
        click.echo("forgot the subscriber: name, address and ledger details erased")
    else:
        click.echo("no such subscriber; the address is kept as forgotten, so no import adds it")


def _secret(config: Config) -> bytes:
    from publisher.audience.tokens import load_secret

    return load_secret(config.web.secret_env, config.path.resolve().parent, os.environ)


@subscribers_group.command(name="show")
@click.argument("email")
@click.pass_context
@reports_errors
def subscribers_show(context: click.Context, email: str) -> None:
    """Show EMAIL's status, digests and every bounce, complaint and unsubscribe event.

    A report that proved nothing (no token or Message-ID of ours) shows as `(unverified)`.
    """
    from rich.console import Console
    from rich.table import Table

    from publisher.audience.subscribers import find_subscriber
    from publisher.inbound.apply import subscriber_events
    from publisher.store.database import open_store

    config = site_config(context)
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
            event.kind.replace("_", " ") + ("" if event.verified else " (unverified)"),
            event.code,
            event.source,
            "" if event.edition_id is None else str(event.edition_id),
            event.diagnostic if event.digest is None else f"{event.digest}: {event.diagnostic}",
        )
    Console(highlight=False, markup=False, width=200).print(table if found else "no events")
