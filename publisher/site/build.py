"""Build: read public articles from the store, write every feed file that changed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from publisher.config import Config
from publisher.content.authors import AuthorDirectory
from publisher.errors import FeedError, StoreError
from publisher.files import inside, remove_stale_temporaries, write_atomically
from publisher.site.feeds import (
    FILE_NAMES,
    feed_media_type,
    feed_specs,
    is_current_feed,
    render_feeds,
)
from publisher.site.websub import PingReport, queue_pings, send_due_pings
from publisher.sources.poll import fetch_settings
from publisher.store.articles import PUBLICATION_COUNTER, public_articles
from publisher.store.database import Store, counter_value
from publisher.store.profiles import profiles
from publisher.urls import feed_file_url

log = logging.getLogger(__name__)


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
    """Write every feed (site, categories, authors, podcast) and archive page; remove feeds
    that are gone; ping the WebSub hub."""
    with store.transaction() as connection:
        articles = public_articles(connection)
        last_sequence = counter_value(connection, PUBLICATION_COUNTER)
        authors = AuthorDirectory(profiles(connection), config.site.url)
    articles = [authors.linked(published) for published in articles]  # authors link their pages
    specs = feed_specs(config, articles, last_sequence, authors)
    files = render_feeds(specs, config.feeds.formats)
    report = BuildReport()
    root = config.feeds_dir
    try:
        _remove_interrupted_writes(root, set(files))
        for relative, data in sorted(files.items()):
            written = write_atomically(inside(root, relative), data)
            (report.written if written else report.unchanged).append(relative)
        report.removed = _remove_stale_feeds(root, set(files))
    except OSError as error:
        raise FeedError(f"cannot write feeds in {root}: {error}") from None
    report.pings = _ping_hub(store, config, report.written, clock())
    return report


def _ping_hub(store: Store, config: Config, written: list[str], now: datetime) -> PingReport | None:
    """Queue a ping for each changed subscription feed, then send what is due; never raise."""
    hub = config.feeds.websub_hub
    try:
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
        folders += sorted(
            child
            for child in folder.iterdir()
            if child.is_dir() and not child.is_symlink() and not child.name.startswith(".")
        )
    return folders


def _remove_interrupted_writes(root: Path, current: set[str]) -> None:
    """Delete the temp files an interrupted build (a kill -9 mid-write) left in feed folders."""
    if not root.is_dir():
        return
    for folder in _feed_folders(root):
        prefix = "" if folder == root else folder.relative_to(root).as_posix() + "/"
        names = set(FILE_NAMES.values())
        names |= {path.removeprefix(prefix) for path in current if path.startswith(prefix)}
        names |= {child.name for child in folder.iterdir() if _is_feed(root, child)}
        for path in remove_stale_temporaries(folder, names):
            log.info("removed %s, left by an interrupted write", path)


def _remove_stale_feeds(root: Path, current: set[str]) -> list[str]:
    """Delete feed files this tool wrote earlier that the current build no longer makes."""
    removed = []
    emptied: set[Path] = set()
    for folder in reversed(_feed_folders(root)):
        for path in sorted(folder.iterdir()):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and _is_feed(root, path) and relative not in current:
                path.unlink()
                removed.append(relative)
                emptied.add(folder)
        # Only a folder this build emptied goes (and then its parent, if that empties too).
        if folder != root and folder in emptied and not any(folder.iterdir()):
            folder.rmdir()
            emptied.add(folder.parent)
    return sorted(removed)


def _is_feed(root: Path, path: Path) -> bool:
    return feed_media_type(path.relative_to(root).as_posix()) is not None
