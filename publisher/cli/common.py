"""What every command shares: config loading, error reporting, paths as the user types them."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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
