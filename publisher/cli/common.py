"""What every command shares: config loading, error reporting, paths as the user types them."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from publisher.errors import ContentError, PublisherError

if TYPE_CHECKING:
    from publisher.config import Config

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
            raise Failed(f"error: {user_paths(str(error))}") from None

    return wrapper  # type: ignore[return-value]


def site_config(context: click.Context) -> Config:
    """The config named by the root command's --config, read with the environment."""
    from publisher.config import load_config

    return load_config(context.find_root().obj, os.environ)


def report_content_errors(errors: Sequence[PublisherError], config: Config) -> None:
    """One red line per error, with paths as the user types them; exit 1 if there were any."""
    for error in errors:
        if isinstance(error, ContentError):
            line = error.located(shown_path(config.content_dir / error.path))
        else:
            line = user_paths(str(error))
        click.secho(line, fg="red", err=True)
    if errors:
        raise SystemExit(1)


def user_paths(message: str) -> str:
    """`message` with paths inside the current folder written relative to it."""
    here = str(Path.cwd())
    if here == os.sep:
        return message
    return message.replace(here + os.sep, "")


def shown_path(path: Path) -> str:
    """`path` as the user would type it from the current folder."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


@dataclass
class Stop:
    """Set by SIGTERM or SIGINT inside `stopped_by_signals`: long work ends at its next safe
    point (a send, once each connection's message in flight is answered and recorded)."""

    event: threading.Event = field(default_factory=threading.Event)
    signal_number: int | None = None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    @property
    def exit_status(self) -> int:
        """The shell's status for a process ended by that signal (130 for SIGINT, 143 for
        SIGTERM): stopped before its work was done."""
        return 128 + (self.signal_number or 0)

    def end_if_stopped(self, command: str) -> None:
        """After a send that a signal stopped: say so, and exit with the signal's status."""
        if self.event.is_set():
            click.echo(
                f"{command}: stopped by {self.signal_name}; what was sent is recorded: "
                "`publisher send` resumes"
            )
            raise SystemExit(self.exit_status)


@contextmanager
def stopped_by_signals(logger: str) -> Iterator[Stop]:
    """SIGTERM and SIGINT set the yielded `Stop` instead of ending the process at once (even
    where the shell started it with SIGINT ignored); the handlers before are put back after."""
    stop = Stop()

    def request_stop(signum: int, _frame: object) -> None:
        logging.getLogger(logger).info("received %s", signal.Signals(signum).name)
        stop.signal_number = signum
        stop.event.set()

    stops = (signal.SIGTERM, signal.SIGINT)
    before = {number: signal.signal(number, request_stop) for number in stops}
    try:
        yield stop
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
