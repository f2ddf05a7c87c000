"""The one small hierarchy of errors the CLI turns into a red line and a non-zero exit."""

from __future__ import annotations


class PublisherError(Exception):
    """Base of every error a user can cause and fix."""


class ConfigError(PublisherError):
    """The config file is missing, unreadable or invalid; the message names the file and key."""


class ContentError(PublisherError):
    """An article cannot be published; the message names the file and line (0: unknown)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(self.located(path))

    def located(self, path: str) -> str:
        """`PATH:LINE: message` with `path` for the file (`PATH: message` if the line is 0)."""
        return f"{path}:{self.line}: {self.message}" if self.line else f"{path}: {self.message}"


class StoreError(PublisherError):
    """The store cannot be opened or its schema does not match this version."""


class FeedError(PublisherError):
    """A feed cannot be built or written."""


class SourceError(PublisherError):
    """An upstream feed cannot be fetched or read; the message names the source and its URL."""
