"""`publisher articles list`: the articles in the store, by status."""

from __future__ import annotations

import json

import click

from publisher.cli.app import main
from publisher.cli.common import reports_errors, site_config

STATUSES = ("public", "scheduled", "draft", "withdrawn")


@main.group(name="articles")
def articles_group() -> None:
    """The articles in the store: public, scheduled, drafts skipped, withdrawn."""


@articles_group.command(name="list")
@click.option(
    "--status",
    "statuses",
    type=click.Choice(STATUSES),
    multiple=True,
    help="Only this status (repeat for more).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.pass_context
@reports_errors
def articles_list(context: click.Context, statuses: tuple[str, ...], as_json: bool) -> None:
    """Show articles newest first: status, date, title, URL."""
    from publisher.reports.articles import article_document, articles_by_status
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        found = articles_by_status(store, statuses)
    if as_json:
        click.echo(json.dumps(article_document(found), indent=2))
        return
    if not found:
        click.echo("no articles")
    zone = config.site.zone
    for article in found:
        date = article.published_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{article.status:<9}  {date}  {article.title}  {article.url}")
