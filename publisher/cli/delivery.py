"""`publisher send`: deliver editions, with a progress bar on a terminal."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

import click

from publisher.cli.app import main
from publisher.cli.common import reports_errors, site_config, stopped_by_signals

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.mail.delivery.send import SendOptions, SendReport
    from publisher.store.database import Store


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

    Without EDITION_ID, --retry-uncertain and --retry-failed look in every edition. Sends
    queued from the dashboard or the API are carried out first. SIGTERM or SIGINT (Control-C)
    stops it once each connection's message in flight is answered and recorded (exit status
    143 or 130); run it again to send the rest.
    """
    from publisher.mail.delivery.requests import run_queued_sends
    from publisher.mail.delivery.send import SendOptions, editions_for_send
    from publisher.store.database import open_store

    config = site_config(context)
    options = SendOptions(force=force, retry_uncertain=retry_uncertain, retry_failed=retry_failed)
    with open_store(config.store_url) as store, stopped_by_signals("publisher.send") as stop:
        for line in run_queued_sends(store, config, os.environ, stop=stop.event):
            click.echo(line)
        chosen = [edition_id] if edition_id is not None else editions_for_send(store, options)
        if not chosen:
            click.echo("send: every edition is delivered")
        failed = False
        for each in chosen:
            if stop.event.is_set():
                break
            report = _send_with_progress(store, config, each, options, stop.event)
            click.echo(report.summary())
            failed = failed or report.counts.get("failed", 0) > 0
            failed = failed or report.remaining.need_a_decision
    stop.end_if_stopped("send")
    if failed:
        raise SystemExit(1)


def _send_with_progress(
    store: Store, config: Config, edition_id: int, options: SendOptions, stop: threading.Event
) -> SendReport:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from publisher.mail.delivery.send import send_edition

    if not sys.stderr.isatty():
        return send_edition(
            store, config, edition_id, os.environ, options, progress=_log_batch, stop=stop
        )
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

        return send_edition(
            store, config, edition_id, os.environ, options, progress=update, stop=stop
        )


def _log_batch(report: SendReport) -> None:
    logging.getLogger("publisher.send").info(
        "edition %s: %s sent, %s failed, %s uncertain so far",
        report.edition_id,
        report.sent,
        report.failed,
        report.uncertain,
    )
