"""The `publisher` command: a thin shell over the library; errors become one red line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from publisher.build import build
from publisher.config import DEFAULT_CONFIG_FILE, Config, load_config
from publisher.errors import PublisherError
from publisher.gather import GatherReport, check_content, gather
from publisher.store import open_store

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
    default="warning",
    show_default=True,
)
@click.version_option(package_name="publisher")
@click.pass_context
def main(context: click.Context, config_path: Path, log_level: str) -> None:
    """Publish Markdown articles as RSS, Atom and JSON feeds and email digests."""
    logging.basicConfig(
        level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    context.obj = config_path


def _config(context: click.Context) -> Config:
    return load_config(context.find_root().obj, os.environ)


@main.command()
@click.pass_context
@reports_errors
def check(context: click.Context) -> None:
    """Validate the config and every article; write nothing."""
    config = _config(context)
    articles, errors = check_content(config)
    click.echo(
        f"check: config {config.path} is valid; {len(articles)} articles, {len(errors)} errors"
    )
    _report_content_errors(errors)


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
@click.pass_context
@reports_errors
def publish(context: click.Context) -> None:
    """Gather, then build the feeds."""
    config = _config(context)
    with open_store(config.store_url) as store:
        report = gather(store, config)
        click.echo(report.summary())
        click.echo(build(store, config).summary())
    _report_content_errors(report.errors)


def _finish_gather(report: GatherReport) -> None:
    click.echo(report.summary())
    _report_content_errors(report.errors)


def _report_content_errors(errors: Sequence[PublisherError]) -> None:
    for error in errors:
        click.secho(str(error), fg="red", err=True)
    if errors:
        raise SystemExit(1)
