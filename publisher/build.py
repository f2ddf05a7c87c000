"""Build: read public articles from the store, write every feed file that changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from publisher.authors import AuthorDirectory
from publisher.config import Config
from publisher.errors import FeedError
from publisher.feeds import FILE_NAMES, feed_specs, render_feeds
from publisher.files import inside, remove_stale_temporaries, write_atomically
from publisher.store import Store, profiles, public_articles

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BuildReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what the build did."""
        return (
            f"build: {len(self.written)} written, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed"
        )


def build(store: Store, config: Config) -> BuildReport:
    """Write the site, category and author feeds; remove feeds of categories and authors gone."""
    with store.transaction() as connection:
        articles = public_articles(connection)
        authors = AuthorDirectory(profiles(connection), config.site.url)
    articles = [authors.linked(published) for published in articles]  # authors link their pages
    files = render_feeds(feed_specs(config, articles, authors), config.feeds.formats)
    report = BuildReport()
    root = config.feeds_dir
    try:
        _remove_interrupted_writes(root)
        for relative, data in sorted(files.items()):
            written = write_atomically(inside(root, relative), data)
            (report.written if written else report.unchanged).append(relative)
        report.removed = _remove_stale_feeds(root, set(files))
    except OSError as error:
        raise FeedError(f"cannot write feeds in {root}: {error}") from None
    return report


def _remove_interrupted_writes(root: Path) -> None:
    """Delete the temp files an interrupted build (a kill -9 mid-write) left in feed folders."""
    folders = [root, *_feed_folders(root)]
    for folder in folders:
        for path in remove_stale_temporaries(folder, set(FILE_NAMES.values())):
            log.info("removed %s, left by an interrupted write", path)


def _remove_stale_feeds(root: Path, current: set[str]) -> list[str]:
    """Delete feed files this tool wrote earlier that the current build no longer makes."""
    removed = []
    candidates = [root / name for name in FILE_NAMES.values()]
    candidates += [folder / name for folder in _feed_folders(root) for name in FILE_NAMES.values()]
    for path in candidates:
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in current:
            path.unlink()
            removed.append(relative)
            if path.parent != root and not any(path.parent.iterdir()):
                path.parent.rmdir()
    return sorted(removed)


def _feed_folders(root: Path) -> list[Path]:
    """The folders of category and author feeds."""
    return [
        folder
        for kind in ("categories", "authors")
        if (root / kind).is_dir()
        for folder in (root / kind).iterdir()
        if folder.is_dir()
    ]
