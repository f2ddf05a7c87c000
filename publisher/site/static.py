"""The static site: every public page, feed, image and stylesheet, written under `[site] output`.

The pages are the ones `publisher serve` answers with, rendered by the same code (the web
layer's `static_pages` lists them). Each page comes with a fingerprint of what it shows (its
articles' revisions, the site's settings, templates and profiles); the manifest in the output
folder keeps the fingerprint each file was last written from, so a page whose inputs did not
change is not even rendered, and one that is rendered is written only when its bytes change (an
unchanged page keeps its mtime: a static host or CDN sees nothing new). A file of an earlier
build that is no page any more is removed.

The manifest lives in the output folder rather than the store so that it always describes the
files beside it: a deleted or replaced output folder takes its manifest along, and the next build
renders everything. Files changed by hand are not looked for (a build would have to stat every
file); delete the manifest to have every page written again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher import __version__
from publisher.config import Config
from publisher.files import flush_filesystem, write_atomically
from publisher.site.build import RENDER_SETTING, recorded_inputs_fingerprint
from publisher.store.database import setting
from publisher.store.feeds import profile_revisions
from publisher.store.schema import editions
from publisher.templates import BUNDLED_TEMPLATES

# Raised when pages change for a reason no input shows (a template or code change in a release).
STATIC_RENDERING_VERSION = "3"
# In the output folder, hidden: which inputs each file was written from (see the docstring).
MANIFEST_NAME = ".publisher-pages.json"


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the static site: its URL path and bytes."""

    path: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StaticPage:
    """One page of the static site: its URL path, the fingerprint of its inputs, and how to
    render it (called only when the fingerprint differs from the one its file was written from)."""

    path: str
    inputs: str
    render: Callable[[], bytes]


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
    rendered: tuple[str, ...] = ()  # the URL paths of the pages rendered, in order

    def summary(self) -> str:
        """One line for `publisher build`."""
        if self.output is None:
            return "site: no static site ([site] static = false)"
        return (
            f"site: {self.written} files written, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.rendered)} pages rendered, in {self.output}"
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the last build of the output folder recorded: the fingerprint of all the site's
    inputs, and the fingerprint each file was written from, by URL path."""

    inputs: str | None
    files: Mapping[str, str]

    def is_current(self, path: str, inputs: str) -> bool:
        """Whether the file at `path` was written from `inputs`."""
        return self.files.get(path) == inputs


def read_manifest(output: Path) -> Manifest:
    """The output folder's manifest; an empty one when it is missing or unreadable."""
    try:
        recorded = json.loads((output / MANIFEST_NAME).read_bytes())
        return Manifest(recorded["inputs"], recorded["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return Manifest(None, {})


def write_manifest(output: Path, manifest: Manifest) -> None:
    """Record `manifest` in the output folder, durably, after the files it describes."""
    recorded = {"inputs": manifest.inputs, "files": dict(manifest.files)}
    data = json.dumps(recorded, sort_keys=True, separators=(",", ":")).encode()
    write_atomically(output / MANIFEST_NAME, data)


def same_site_path(site_url: str, url: str) -> str | None:
    """The path of `url` if it is a page of the site (no query), else None."""
    site, parts = urlsplit(site_url), urlsplit(url)
    if (parts.scheme, parts.netloc) != (site.scheme, site.netloc) or parts.query:
        return None
    return parts.path or "/"


def file_path(path: str) -> PurePosixPath:
    """Where the file for a URL path goes in the output folder: `a/b/` is `a/b/index.html`."""
    return PurePosixPath(_relative_file(path))


def _relative_file(path: str) -> str:
    # As `file_path`, in plain strings: a build asks for tens of thousands.
    relative = unquote(path).lstrip("/")
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{path!r} cannot be a file of the static site")
    return "/".join(parts)


@dataclass(frozen=True, slots=True)
class WrittenFiles:
    """What writing some of the static site's files did: the fingerprint each file now has
    (by URL path), how many were written or left, and the pages rendered."""

    recorded: dict[str, str]
    written: int
    unchanged: int
    rendered: tuple[str, ...]


def write_static_site(
    output: Path,
    files: Iterable[StaticPage | StaticFile | StaticCopy],
    previous: Manifest,
    inputs: str | None,
) -> StaticReport:
    """Write `files` under `output` (`write_files`), remove every other file and record the
    manifest (`finish_static_site`)."""
    return finish_static_site(output, [write_files(output, files, previous)], previous, inputs)


def write_files(
    output: Path, files: Iterable[StaticPage | StaticFile | StaticCopy], previous: Manifest
) -> WrittenFiles:
    """Write `files` under `output`: a page only when its inputs differ from those `previous`
    recorded (and then only when its bytes changed).

    Each file is written whole (temp file and rename) but not synced one by one: the output
    is flushed to disk once, by `finish_static_site`.
    """
    written = unchanged = 0
    rendered: list[str] = []
    recorded: dict[str, str] = {}
    for static in files:
        changed, fingerprint = _write_entry(static, output, previous, rendered)
        recorded[static.path] = fingerprint
        if changed:
            written += 1
        else:
            unchanged += 1
    return WrittenFiles(recorded, written, unchanged, tuple(rendered))


def finish_static_site(
    output: Path, parts: Iterable[WrittenFiles], previous: Manifest, inputs: str | None
) -> StaticReport:
    """Remove every file of `output` that no part wrote or kept, flush the output to disk,
    then record the manifest of `inputs` (None: record none, the next build renders all)."""
    parts = list(parts)
    recorded = {path: inputs for part in parts for path, inputs in part.recorded.items()}
    kept = {os.path.join(output, _relative_file(path)) for path in [*recorded, MANIFEST_NAME]}
    removed = _remove_all_but(output, kept)
    written = sum(part.written for part in parts)
    if written or removed:
        flush_filesystem(output)
    manifest = Manifest(inputs, recorded if inputs is not None else {})
    if manifest != previous:
        write_manifest(output, manifest)
    unchanged = sum(part.unchanged for part in parts)
    rendered = tuple(path for part in parts for path in part.rendered)
    return StaticReport(output, written, unchanged, removed, rendered)


def _write_entry(
    static: StaticPage | StaticFile | StaticCopy,
    output: Path,
    previous: Manifest,
    rendered: list[str],
) -> tuple[bool, str]:
    """Write one file if it must be: whether its bytes changed, and the fingerprint to record."""
    if isinstance(static, StaticCopy):
        source = static.source.stat()
        fingerprint = f"copy {source.st_size} {source.st_mtime_ns}"
        if previous.is_current(static.path, fingerprint):
            return False, fingerprint
        return copy_if_changed(static.source, _target(output, static.path)), fingerprint
    if isinstance(static, StaticPage):
        if previous.is_current(static.path, static.inputs):
            return False, static.inputs
        rendered.append(static.path)
        body, fingerprint = static.render(), static.inputs
    else:
        body, fingerprint = static.body, "bytes " + hashlib.sha256(static.body).hexdigest()
        if previous.is_current(static.path, fingerprint):
            return False, fingerprint
    return write_atomically(_target(output, static.path), body, durable=False), fingerprint


def _target(output: Path, path: str) -> Path:
    return Path(output, _relative_file(path))


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


def _remove_all_but(output: Path, kept: set[str]) -> int:
    """Remove every file below `output` but those `kept` (paths as strings), and the folders
    that leaves empty; how many files it removed."""
    removed = 0
    entries_left: dict[str, int] = {}  # in each folder already walked (bottom up)
    for folder, folders, names in os.walk(output, topdown=False):
        left = 0
        for name in names:
            path = os.path.join(folder, name)
            if path in kept:
                left += 1
            else:
                os.unlink(path)
                removed += 1
        for name in folders:
            below = os.path.join(folder, name)
            if entries_left.pop(below, 1) == 0:  # a link to a folder is never walked: kept
                with suppress(OSError):
                    os.rmdir(below)
                    continue
            left += 1
        entries_left[folder] = left
    return removed


def static_shared_fingerprint(connection: Connection, config: Config) -> str:
    """The fingerprint of what every page may show besides articles and editions: the code,
    the config, the articles' rendering, the author profiles, the templates, the content's
    media files (images, the logo) and the site's catalogs."""
    folders = [Path(str(BUNDLED_TEMPLATES)), config.content_dir, config.locale_dir]
    if config.templates_dir is not None:
        folders.append(config.templates_dir)
    parts = [
        __version__,
        STATIC_RENDERING_VERSION,
        repr(config),
        setting(connection, RENDER_SETTING),
        profile_revisions(connection),
        [_file_states(folder, skip_suffix=".md") for folder in folders if folder is not None],
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def static_inputs_fingerprint(connection: Connection, config: Config, shared: str) -> str | None:
    """One fingerprint of all a public page shows: `shared` (`static_shared_fingerprint`),
    the feeds' inputs as the last build recorded them (every public article's revision) and
    the editions. None before the first build: then there is nothing to compare."""
    feeds = recorded_inputs_fingerprint(connection)
    if feeds is None:
        return None
    shown_editions = connection.execute(
        sa.select(sa.func.count(), sa.func.max(editions.c.id), sa.func.max(editions.c.created_at))
    ).one()
    parts = [shared, feeds, tuple(shown_editions)]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


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
