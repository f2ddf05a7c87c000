"""`run`, `schedule` and `serve`: the long-running processes."""

from __future__ import annotations

import os

import click

from publisher.cli.app import main
from publisher.cli.common import reports_errors, site_config, stopped_by_signals
from publisher.clock import system_clock


@main.command(name="run")
@click.pass_context
@reports_errors
def run_command(context: click.Context) -> None:
    """Run the publishing daemon: publish on an interval, make and send digests on schedule.

    A second `publisher run` on the same store waits as a standby. SIGTERM or SIGINT lets a
    running send finish and record its messages in flight, then exits 0.
    """
    from publisher.config import load_config
    from publisher.daemon.scheduler import run_daemon

    config_path = context.find_root().obj
    load_config(config_path, os.environ)  # a bad config fails here, naming the key
    with stopped_by_signals("publisher.run") as stop:
        run_daemon(config_path, os.environ, stop.event)


@main.command(name="schedule")
@click.pass_context
@reports_errors
def schedule_command(context: click.Context) -> None:
    """List the jobs `publisher run` schedules and their next run times; start nothing."""
    from rich.console import Console
    from rich.table import Table

    from publisher.daemon.scheduler import planned_jobs

    config = site_config(context)
    table = Table("job", "schedule", "timezone", f"next run ({config.site.timezone})", box=None)
    for job in planned_jobs(config, system_clock()):
        next_run = "never"
        if job.next_run is not None:
            next_run = job.next_run.astimezone(config.site.zone).strftime("%Y-%m-%d %H:%M %Z")
        table.add_row(job.job, job.schedule, job.timezone, next_run)
    Console(highlight=False, markup=False).print(table)


@main.command(name="serve")
@click.option("--host", default=None, help="Address to listen on (default: [web] host).")
@click.option("--port", type=int, default=None, help="Port (default: [web] port).")
@click.option(
    "--preview",
    is_flag=True,
    help="Links and images point at this server, whatever the Host (a local preview).",
)
@click.pass_context
@reports_errors
def serve_command(
    context: click.Context, host: str | None, port: int | None, preview: bool
) -> None:
    """Serve the subscription pages, article pages, feeds and archive over HTTP.

    Prints the URL it listens on; SIGTERM or SIGINT stops it with exit status 0. A request
    whose Host is a loopback address (127.0.0.1, localhost) gets pages linking to this server
    even without --preview; one through a proxy that passes the public Host gets the site's.
    """
    from publisher.web.app import serve

    serve(
        site_config(context),
        host,
        port,
        announce=lambda url: click.echo(f"serve: listening on {url}"),
        preview=preview,
    )
