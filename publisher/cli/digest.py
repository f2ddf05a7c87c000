"""`publisher digest`: make, list, preview and proof editions."""

from __future__ import annotations

import os
from pathlib import Path

import click

from publisher.cli.app import main
from publisher.cli.common import Failed, reports_errors, site_config
from publisher.errors import PublisherError, StoreError


@main.group(name="digest")
def digest_group() -> None:
    """Make, list and preview digest editions."""


@digest_group.command(name="create")
@click.argument("name", required=False)
@click.option("--slot", help="A schedule slot key: a second call with the same slot makes nothing.")
@click.option(
    "--note",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An editor's note (a Markdown file) atop this edition, instead of the digest's own.",
)
@click.pass_context
@reports_errors
def digest_create(
    context: click.Context, name: str | None, slot: str | None, note: Path | None
) -> None:
    """Freeze the next edition of digest NAME (default: every digest)."""
    from publisher.mail.editions import create_edition, write_missing_archives
    from publisher.store.database import open_store

    config = site_config(context)
    names = [config.digest(name).name] if name else [d.name for d in config.digests]
    if not names:
        raise Failed(f"error: {config.path}: no [[digests]] configured")
    failed = False
    with open_store(config.store_url) as store:
        write_missing_archives(store, config)
        text = note.read_text(encoding="utf-8") if note is not None else None
        for each in names:
            try:  # one digest that fails never stops the others
                click.echo(create_edition(store, config, each, slot=slot, note=text).message)
            except StoreError:
                raise
            except PublisherError as error:
                click.secho(f"error: digest {each}: {error}", fg="red", err=True)
                failed = True
    if failed:
        raise SystemExit(1)


@digest_group.command(name="list")
@click.option("--digest", "name", help="Only this digest's editions.")
@click.pass_context
@reports_errors
def digest_list(context: click.Context, name: str | None) -> None:
    """Show editions: id, digest, number, created, articles, delivery counts, subject."""
    from rich.console import Console
    from rich.table import Table

    from publisher.mail.editions import list_editions
    from publisher.store.database import open_store
    from publisher.store.editions import delivery_counts

    config = site_config(context)
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
    Console(highlight=False, markup=False).print(table if found else "no editions yet")


def _delivery_line(counts: dict[str, int] | None) -> str:
    if not counts:
        return "not sent"
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


@digest_group.command(name="preview")
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
    from publisher.mail.editions import NO_ARTICLES_YET, any_article_gathered, preview_edition
    from publisher.store.database import open_store

    config = site_config(context)
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


@digest_group.command(name="send-test")
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
    from publisher.mail.proofs import send_proofs
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        click.echo(send_proofs(store, config, name, addresses, os.environ).summary())
