"""The root `publisher` group; the command modules register on it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from publisher import DEFAULT_CONFIG_FILE

# The daemon logs with times; one-shot commands without.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
