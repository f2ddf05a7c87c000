"""`publisher inbound`: bounces, complaints and mailto unsubscribes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from publisher.cli.app import main
from publisher.cli.common import Failed, reports_errors, site_config
from publisher.clock import system_clock

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again


@main.command(name="inbound")
@click.argument("source", required=False)
@click.option(
    "--maildir",
    "maildir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read this Maildir instead of the configured mailboxes.",
)
@click.pass_context
def inbound_command(context: click.Context, source: str | None, maildir: Path | None) -> None:
    """Read bounces, complaints and mailto unsubscribes and apply them to subscribers.

    With SOURCE `-`, read one message from standard input (for an MTA's pipe transport; exit
    75 on a temporary failure so the MTA retries). Otherwise read `--maildir`, or the
    configured `[inbound] maildir` and IMAP folder.
    """
    from publisher.inbound.readers import Inbound, InboundReport, read_one
    from publisher.store.database import open_store

    if source not in (None, "-"):
        raise Failed(f"error: unknown source {source!r}: use - for standard input")
    if source == "-":
        try:
            config = site_config(context)
            raw = sys.stdin.buffer.read()
            with open_store(config.store_url) as store:
                read_one(Inbound(store, config, os.environ, system_clock), raw, InboundReport())
        except Exception as error:  # any failure: the MTA keeps the message and retries
            click.secho(f"error: {error}", fg="red", err=True)
            raise SystemExit(EX_TEMPFAIL) from None
        return
    _inbound_mailboxes(context, maildir)


@reports_errors
def _inbound_mailboxes(context: click.Context, maildir: Path | None) -> None:
    from publisher.inbound.mailboxes import has_mailbox, read_mailboxes
    from publisher.inbound.readers import Inbound, InboundReport, read_maildir
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        inbound = Inbound(store, config, os.environ, system_clock)
        if maildir is not None:
            report = read_maildir(inbound, maildir, InboundReport())
        elif has_mailbox(inbound):
            report = read_mailboxes(inbound, os.environ)
        else:
            raise Failed(
                f"error: {config.path}: no [inbound] maildir or imap_host; or use --maildir"
            )
    click.echo(report.summary())
    for problem in report.errors:
        click.secho(problem, fg="red", err=True)
    if report.errors:
        raise SystemExit(1)
