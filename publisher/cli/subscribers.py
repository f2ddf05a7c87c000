"""`publisher subscribers`: add, remove, list, import, export, forget and show."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from publisher.cli.app import main
from publisher.cli.common import Failed, reports_errors, shown_path, site_config
from publisher.clock import system_clock
from publisher.store.statuses import SubscriberStatus

if TYPE_CHECKING:
    from publisher.config import Config


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
@click.option(
    "--status",
    type=click.Choice([status.value for status in SubscriberStatus]),
    help="Only this status.",
)
@click.option("--digest", "digest_name", help="Only this digest's subscribers.")
@click.pass_context
@reports_errors
def subscribers_list(context: click.Context, status: str | None, digest_name: str | None) -> None:
    """Show subscribers: email, name, status, digests."""
    from rich.console import Console
    from rich.table import Table

    from publisher.audience.subscribers import list_subscribers
    from publisher.store.database import open_store

    config = site_config(context)
    if digest_name:
        config.digest(digest_name)
    with open_store(config.store_url) as store:
        found = list_subscribers(store, status, digest_name)
    table = Table("email", "name", "status", "digests", box=None)
    for subscriber in found:
        table.add_row(
            subscriber.email, subscriber.name, subscriber.status, " ".join(subscriber.digests)
        )
    Console(highlight=False, markup=False).print(table if found else "no subscribers")


@subscribers_group.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@reports_errors
def subscribers_import(context: click.Context, csv_file: Path) -> None:
    """Import CSV_FILE (header: email,name,digests); bad rows are reported, the rest imported."""
    from publisher.audience.forgetting import import_suppression
    from publisher.audience.subscribers import import_csv
    from publisher.store.database import open_store

    config = site_config(context)
    try:
        text = csv_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise Failed(f"error: {shown_path(csv_file)}: cannot read: {error}") from None
    with open_store(config.store_url) as store:
        suppression = import_suppression(store, _secret(config), system_clock())
        report = import_csv(
            store, text, [d.name for d in config.digests], system_clock(), suppression
        )
    click.echo(report.summary())
    for problem in report.errors:
        # Each problem starts "line N: ", shown as FILE:N: like an article's.
        click.secho(f"{shown_path(csv_file)}:{problem.removeprefix('line ')}", fg="red", err=True)
    if report.errors:
        raise SystemExit(1)


@subscribers_group.command(name="export")
@click.pass_context
@reports_errors
def subscribers_export(context: click.Context) -> None:
    """Write every subscriber as CSV to standard output."""
    from publisher.audience.forgetting import forgotten_hashes
    from publisher.audience.subscribers import export_csv, list_subscribers
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        for line in export_csv(list_subscribers(store), forgotten_hashes(store)):
            click.echo(line, nl=False)


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
