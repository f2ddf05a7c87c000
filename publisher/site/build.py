"""Build: read public articles from the store, write every feed file that changed.

Each feed file is rendered only when the fingerprint of its inputs (the feed's settings and
links, its articles' revisions, the author profiles, the rendering code) differs from the one
recorded when it was last written, or the file is not as it was left. A build with nothing
changed checks one fingerprint of all the inputs and the files' sizes and times, and renders
nothing; full RFC 5005 archive pages, whose inputs never change, are never rendered again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from publisher import __version__
from publisher.config import Config, FeedFormat
from publisher.content.authors import AuthorDirectory
from publisher.errors import FeedError, StoreError
from publisher.files import flush_filesystem, inside, remove_stale_temporaries, write_atomically
from publisher.site.feeds import (
    FILE_NAMES,
    FeedSpec,
    feed_media_type,
    feed_specs,
    is_current_feed,
    render_feed,
)
from publisher.store.articles import PUBLICATION_COUNTER, public_articles
from publisher.store.database import Store, counter_value, put_setting, setting
from publisher.store.feeds import (
    FeedFile,
    feed_files_written,
    profile_revisions,
    public_article_revisions,
    put_feed_files,
)
from publisher.store.pings import pending_ping_count
from publisher.store.profiles import profiles
from publisher.urls import feed_file_url

if TYPE_CHECKING:
    from publisher.site.websub import PingReport

log = logging.getLogger(__name__)

# Bump when the feed renderers write other bytes from the same inputs.
FEED_RENDERING_VERSION = "1"
_INPUTS_SETTING = "feed_inputs_fingerprint"
_WRITER_THREADS = 8
_WRITES_IN_FLIGHT = 64
RENDER_SETTING = "render_fingerprint"  # gather's: it changes when every article is rendered anew


@dataclass(slots=True)
class BuildReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pings: PingReport | None = None

    def summary(self) -> str:
        """One line: what the build did."""
        line = (
            f"build: {len(self.written)} written, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed"
        )
        return f"{line}; {self.pings.summary()}" if self.pings else line


def build(
    store: Store, config: Config, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> BuildReport:
    """Write every feed (site, categories, authors, podcast) and archive page whose inputs
    changed; remove feeds that are gone; ping the WebSub hub."""
    with store.read() as connection:
        inputs = _BuildInputs.read(connection, config)
    report = BuildReport()
    root = config.feeds_dir
    try:
        if inputs.unchanged_since_last_build() and _all_as_recorded(root, inputs.recorded):
            current, written = set(inputs.recorded), list[FeedFile]()
            _remove_interrupted_writes(root, current)
            report.unchanged = sorted(current)
        else:
            current, written = _write_changed_feeds(store, config, inputs, report)
        report.removed = _remove_stale_feeds(root, current)
    except OSError as error:
        raise FeedError(f"cannot write feeds in {root}: {error}") from None
    if written or report.removed or not inputs.unchanged_since_last_build():
        # Nothing to record when nothing changed: no write transaction, no wait for the lock.
        with store.transaction() as connection:
            put_feed_files(connection, written, current)
            put_setting(connection, _INPUTS_SETTING, inputs.fingerprint)
    report.pings = _ping_hub(store, config, report.written, clock())
    return report


@dataclass(frozen=True, slots=True)
class _BuildInputs:
    """What decides the feeds, read in a few light queries: enough to tell whether to render."""

    revisions: dict[str, tuple[object, ...]]  # each public article's, by GUID
    shared: str  # what every feed depends on: config, profiles, rendering code
    last_sequence: int
    previous: str | None  # the fingerprint of all inputs at the last build
    recorded: dict[str, FeedFile]
    fingerprint: str  # of every input of every feed

    @classmethod
    def read(cls, connection: Connection, config: Config) -> _BuildInputs:
        shared = [
            __version__,
            FEED_RENDERING_VERSION,
            repr(config),
            setting(connection, RENDER_SETTING),
            profile_revisions(connection),
        ]
        revisions = public_article_revisions(connection)
        last_sequence = counter_value(connection, PUBLICATION_COUNTER)
        return cls(
            revisions=revisions,
            shared=_digest(shared),
            last_sequence=last_sequence,
            previous=setting(connection, _INPUTS_SETTING),
            recorded=feed_files_written(connection),
            fingerprint=_digest([_digest(shared), last_sequence, sorted(revisions.items())]),
        )

    def unchanged_since_last_build(self) -> bool:
        return self.previous == self.fingerprint and bool(self.recorded)

    def of_feed(self, spec: FeedSpec) -> str:
        """The fingerprint of one feed's inputs: its settings and links, its articles."""
        entries = [(p.guid, self.revisions.get(p.guid)) for p in spec.entries]
        return _digest([self.shared, repr(replace(spec, entries=())), entries])


def recorded_inputs_fingerprint(connection: Connection) -> str | None:
    """The fingerprint of every feed's inputs (articles, profiles, config, rendering code) as
    the last build recorded it; None before the first build."""
    return setting(connection, _INPUTS_SETTING)


def _digest(parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _write_changed_feeds(
    store: Store, config: Config, inputs: _BuildInputs, report: BuildReport
) -> tuple[set[str], list[FeedFile]]:
    """Render and write the feed files whose inputs changed or whose file is not as recorded;
    returns every current file's path and the records of those written or checked."""
    with store.read() as connection:
        articles = public_articles(connection)
        authors = AuthorDirectory(profiles(connection), config.site.url)
    articles = [authors.linked(published) for published in articles]  # authors link their pages
    specs = feed_specs(config, articles, inputs.last_sequence, authors)
    root = config.feeds_dir
    formats: tuple[FeedFormat, ...] = tuple(config.feeds.formats)
    current = {spec.file_path(feed_format) for spec in specs for feed_format in formats}
    _remove_interrupted_writes(root, current)
    written = []
    to_render: list[_FeedToRender] = []
    for spec in specs:
        fingerprint = inputs.of_feed(spec)
        for feed_format in formats:
            relative = spec.file_path(feed_format)
            recorded = inputs.recorded.get(relative)
            if recorded and recorded.fingerprint == fingerprint and _as_recorded(root, recorded):
                report.unchanged.append(relative)
            else:
                to_render.append((spec, feed_format, relative, fingerprint))
    for relative, wrote, record in _render_and_write(root, to_render):
        (report.written if wrote else report.unchanged).append(relative)
        written.append(record)
    if report.written:
        flush_filesystem(root)  # before the records say the files are as written
    report.written.sort()
    report.unchanged.sort()
    return current, written


# A feed file to render: its spec, format, path in the feeds folder and inputs' fingerprint.
_FeedToRender = tuple[FeedSpec, FeedFormat, str, str]
_WrittenFeed = tuple[str, bool, FeedFile]  # its path, whether its bytes changed, its record
_PARALLEL_FROM = 200  # feed files to render: below, forking costs more than the cores gain

# The feeds a forked worker renders: set before the fork, inherited, never pickled.
_FORKED_FEEDS: tuple[Path, list[_FeedToRender]] | None = None


def _render_and_write(root: Path, to_render: list[_FeedToRender]) -> list[_WrittenFeed]:
    """Render and write the feeds: in this process for a few, shared with forked workers
    (every `processes`th file each, so that big and small files mix) for many."""
    global _FORKED_FEEDS
    processes = min(os.cpu_count() or 1, 4)
    if len(to_render) < _PARALLEL_FROM or processes < 2:
        return _write_feeds(root, to_render)
    # Loaded only here: a build with little to render (or nothing) does without.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _FORKED_FEEDS = (root, to_render)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes - 1, mp_context=context) as pool:
            shares = [pool.submit(_write_forked_share, n, processes) for n in range(1, processes)]
            done = _write_feeds(root, to_render[0::processes])
            for share in shares:
                done += share.result()
            return done
    finally:
        _FORKED_FEEDS = None


def _write_forked_share(number: int, shares: int) -> list[_WrittenFeed]:
    assert _FORKED_FEEDS is not None, "only in a worker forked by _render_and_write"
    root, to_render = _FORKED_FEEDS
    return _write_feeds(root, to_render[number::shares])


def _write_feeds(root: Path, to_render: list[_FeedToRender]) -> list[_WrittenFeed]:
    with _FeedWriter(root) as writer:
        for spec, feed_format, relative, fingerprint in to_render:
            writer.write(relative, render_feed(spec, feed_format), fingerprint)
    return writer.results()


class _FeedWriter:
    """Writes rendered feeds in a few threads while the next ones render.

    Each file is written whole (temp file and rename) but not synced one by one: the build
    flushes the feeds folder to disk once, before it records the files' sizes and times (a
    crash before leaves files that are not as recorded, so the next build writes them again).
    At most `_WRITES_IN_FLIGHT` files wait in memory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pool = ThreadPoolExecutor(max_workers=_WRITER_THREADS, thread_name_prefix="feeds")
        self.pending: deque[Future[tuple[str, bool, FeedFile]]] = deque()
        self.done: list[tuple[str, bool, FeedFile]] = []

    def write(self, relative: str, data: bytes, fingerprint: str) -> None:
        """Write `data` to the feed file `relative` (relative to the feeds folder)."""
        if len(self.pending) >= _WRITES_IN_FLIGHT:
            self.done.append(self.pending.popleft().result())
        self.pending.append(self.pool.submit(self._write, relative, data, fingerprint))

    def _write(self, relative: str, data: bytes, fingerprint: str) -> tuple[str, bool, FeedFile]:
        path = inside(self.root, relative)
        wrote = write_atomically(path, data, durable=False)
        return relative, wrote, _record(path, relative, fingerprint)

    def results(self) -> list[tuple[str, bool, FeedFile]]:
        """Each file written: its path, whether its bytes changed, its record; in order."""
        return self.done

    def __enter__(self) -> _FeedWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            while self.pending:  # an error in a write surfaces here, after the others end
                self.done.append(self.pending.popleft().result())
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _record(path: Path, relative: str, fingerprint: str) -> FeedFile:
    stat = path.stat()
    return FeedFile(relative, fingerprint, stat.st_size, stat.st_mtime_ns)


def _as_recorded(root: Path, recorded: FeedFile) -> bool:
    """Whether the file is there with the size and time it had when the build left it."""
    try:
        stat = os.stat(f"{root}/{recorded.path}")  # no Path per file: thousands of feeds
    except OSError:
        return False
    return (stat.st_size, stat.st_mtime_ns) == (recorded.size, recorded.mtime_ns)


def _all_as_recorded(root: Path, recorded: dict[str, FeedFile]) -> bool:
    return all(_as_recorded(root, file) for file in recorded.values())


def _ping_hub(store: Store, config: Config, written: list[str], now: datetime) -> PingReport | None:
    """Queue a ping for each changed subscription feed, then send what is due; never raise."""
    hub = config.feeds.websub_hub
    try:
        if hub is None:
            with store.read() as connection:
                if not pending_ping_count(connection):
                    return None  # nothing to send, nor to forget: no need to load HTTP
        from publisher.site.websub import queue_pings, send_due_pings
        from publisher.sources.poll import fetch_settings

        with store.transaction() as connection:
            if hub is not None:
                topics = [feed_file_url(config, p) for p in written if is_current_feed(p)]
                queue_pings(connection, hub, topics, now)
        report = send_due_pings(store, hub, fetch_settings(config), now)
        return report if hub is not None else None
    except StoreError as error:  # the feeds are written: a ping can wait for the next build
        log.warning("websub: pings not recorded: %s", error)
        return None


def _feed_folders(root: Path) -> list[Path]:
    """The feeds folder and every folder below it that is not hidden."""
    folders = [root]
    for folder in folders:
        # DirEntry knows a folder from the directory listing itself: no stat per feed file.
        with os.scandir(folder) as entries:
            folders += sorted(
                Path(entry.path)
                for entry in entries
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
            )
    return folders


def _remove_interrupted_writes(root: Path, current: set[str]) -> None:
    """Delete the temp files an interrupted build (a kill -9 mid-write) left in feed folders."""
    if not root.is_dir():
        return
    for folder in _feed_folders(root):
        with os.scandir(folder) as entries:
            found = sorted(entry.name for entry in entries)
        if not any(name.endswith(".tmp") for name in found):
            continue
        prefix = "" if folder == root else folder.relative_to(root).as_posix() + "/"
        names = set(FILE_NAMES.values())
        names |= {path.removeprefix(prefix) for path in current if path.startswith(prefix)}
        names |= {name for name in found if feed_media_type(prefix + name) is not None}
        for path in remove_stale_temporaries(folder, names):
            log.info("removed %s, left by an interrupted write", path)


def _remove_stale_feeds(root: Path, current: set[str]) -> list[str]:
    """Delete feed files this tool wrote earlier that the current build no longer makes."""
    removed = []
    emptied: set[Path] = set()
    for folder in reversed(_feed_folders(root)):
        prefix = "" if folder == root else folder.relative_to(root).as_posix() + "/"
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries if entry.is_file())
        for name in names:
            relative = prefix + name
            if relative not in current and feed_media_type(relative) is not None:
                (folder / name).unlink()
                removed.append(relative)
                emptied.add(folder)
        # Only a folder this build emptied goes (and then its parent, if that empties too).
        if folder != root and folder in emptied and not any(folder.iterdir()):
            folder.rmdir()
            emptied.add(folder.parent)
    return sorted(removed)


def _is_feed(root: Path, path: Path) -> bool:
    return feed_media_type(path.relative_to(root).as_posix()) is not None
