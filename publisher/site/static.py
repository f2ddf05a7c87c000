"""The static site: every public page, feed, image and stylesheet, written under `[site] output`.

The pages are the ones `publisher serve` answers with, rendered by the same code (the web
layer's `static_pages` lists them). A page is written only when its bytes change, so an
unchanged page keeps its mtime and a static host or CDN sees nothing new; a file of an earlier
build that is no page any more is removed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher import __version__
from publisher.config import Config
from publisher.files import flush_filesystem, write_atomically
from publisher.site.build import recorded_inputs_fingerprint
from publisher.store.schema import editions
from publisher.templates import BUNDLED_TEMPLATES

# Raised when pages change for a reason no input shows (a template or code change in a release).
STATIC_RENDERING_VERSION = "2"


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the static site: its URL path and bytes."""

    path: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StaticCopy:
    """One file of the static site copied as it is (a feed, an image): its URL path and source."""

    path: str
    source: Path


@dataclass(frozen=True, slots=True)
class StaticReport:
    """What a static build did: files written, left as they were, and removed."""

    output: Path | None  # None: `[site] static = false`
    written: int
    unchanged: int
    removed: int

    def summary(self) -> str:
        """One line for `publisher build`."""
        if self.output is None:
            return "site: no static site ([site] static = false)"
        return (
            f"site: {self.written} files written, {self.unchanged} unchanged, "
            f"{self.removed} removed, in {self.output}"
        )


def same_site_path(site_url: str, url: str) -> str | None:
    """The path of `url` if it is a page of the site (no query), else None."""
    site, parts = urlsplit(site_url), urlsplit(url)
    if (parts.scheme, parts.netloc) != (site.scheme, site.netloc) or parts.query:
        return None
    return parts.path or "/"


def file_path(path: str) -> PurePosixPath:
    """Where the file for a URL path goes in the output folder: `a/b/` is `a/b/index.html`."""
    relative = unquote(path).lstrip("/")
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    parts = PurePosixPath(relative).parts
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{path!r} cannot be a file of the static site")
    return PurePosixPath(*parts)


def write_static_site(output: Path, files: Iterable[StaticFile | StaticCopy]) -> StaticReport:
    """Write `files` under `output` (only those whose bytes changed); remove every other file.

    Each file is written whole (temp file and rename) but not synced one by one: the output
    is flushed to disk once at the end, before the caller records the build as done.
    """
    written = unchanged = 0
    kept: set[Path] = set()
    for static in files:
        target = output.joinpath(*file_path(static.path).parts)
        kept.add(target)
        if isinstance(static, StaticCopy):
            changed = copy_if_changed(static.source, target)
        else:
            changed = write_atomically(target, static.body, durable=False)
        if changed:
            written += 1
        else:
            unchanged += 1
    removed = _remove_all_but(output, kept)
    if written or removed:
        flush_filesystem(output)
    return StaticReport(output, written, unchanged, removed)


def copy_if_changed(source: Path, target: Path) -> bool:
    """Copy `source` to `target` unless it has the source's size and mtime already (the copy
    takes the source's mtime, as rsync's quick check has it); returns whether it copied."""
    wanted = source.stat()
    with suppress(FileNotFoundError):
        present = target.stat()
        if (present.st_size, present.st_mtime_ns) == (wanted.st_size, wanted.st_mtime_ns):
            return False
    write_atomically(target, source.read_bytes(), durable=False)
    os.utime(target, ns=(wanted.st_atime_ns, wanted.st_mtime_ns))
    return True


def _remove_all_but(output: Path, kept: set[Path]) -> int:
    removed = 0
    for folder, folders, names in os.walk(output, topdown=False):
        for name in names:
            path = Path(folder, name)
            if path not in kept:
                path.unlink()
                removed += 1
        for name in folders:
            with suppress(OSError):
                Path(folder, name).rmdir()  # only when empty
    return removed


def static_inputs_fingerprint(connection: Connection, config: Config) -> str | None:
    """One fingerprint of all a public page shows: the feeds' inputs as the last build recorded
    them (articles, profiles, config), the editions, the templates, the content's media files
    and the site's catalogs. None before the first build: then there is nothing to compare."""
    feeds = recorded_inputs_fingerprint(connection)
    if feeds is None:
        return None
    shown_editions = connection.execute(
        sa.select(sa.func.count(), sa.func.max(editions.c.id), sa.func.max(editions.c.created_at))
    ).one()
    folders = [Path(str(BUNDLED_TEMPLATES)), config.content_dir, config.locale_dir]
    if config.templates_dir is not None:
        folders.append(config.templates_dir)
    parts = [
        __version__,
        STATIC_RENDERING_VERSION,
        feeds,
        tuple(shown_editions),
        [_file_states(folder, skip_suffix=".md") for folder in folders if folder is not None],
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def output_fingerprint(output: Path) -> tuple[str, int]:
    """A fingerprint of the files under `output` (path, size, mtime) and how many there are."""
    states = _file_states(output)
    return hashlib.sha256(repr(states).encode()).hexdigest(), len(states)


def _file_states(folder: Path, skip_suffix: str | None = None) -> list[tuple[str, int, int]]:
    """Each file below `folder` (not hidden): its path, size and mtime; Markdown files
    (`skip_suffix`) are left to the articles' own revisions."""
    states = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or (skip_suffix and name.endswith(skip_suffix)):
                continue
            with suppress(OSError):
                stat = os.stat(os.path.join(root, name))
                states.append((os.path.join(root, name), stat.st_size, stat.st_mtime_ns))
    return states
