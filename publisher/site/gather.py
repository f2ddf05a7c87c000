"""Gather: bring the store in line with the content folder, skipping unchanged files cheaply."""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.content.articles import (
    Article,
    MediaFile,
    SiteSettings,
    article_guid,
    is_article_file,
    parse_article,
)
from publisher.content.authors import is_profile_source
from publisher.content.related import related_articles
from publisher.errors import ContentError, PublisherError, SourceError, StoreError
from publisher.site.parsing import parsed_articles
from publisher.site.profiles import check_profiles, gather_profiles
from publisher.store.articles import (
    PUBLICATION_COUNTER,
    StoredFile,
    WithdrawnArticles,
    article_values,
    assign_publication_sequence,
    count_articles,
    insert_articles,
    publish_due_articles,
    put_related,
    related_candidates,
    stored_files,
    update_article,
    withdrawn_articles,
)
from publisher.store.database import Store, lock_counter, put_setting, setting
from publisher.store.gathers import record_gather
from publisher.store.statuses import ArticleStatus
from publisher.wording import count

if TYPE_CHECKING:
    from publisher.sources.poll import PollReport

log = logging.getLogger(__name__)

# Bump when parsing or rendering changes, so every stored article is rendered again.
RENDERER_VERSION = "4"
_FINGERPRINT_SETTING = "render_fingerprint"
_INSERT_BATCH = 500  # new rows held before one multi-row insert: bounds the memory they take
_PARSE_BATCH = 2000  # files read and parsed at a time: bounds the bytes and articles held


@dataclass(frozen=True, slots=True)
class SourceFile:
    source: str
    location: str  # the file on disk, kept as the string the scan found
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass(slots=True)
class GatherReport:
    new: int = 0
    updated: int = 0
    withdrawn: int = 0
    published: int = 0
    scheduled: int = 0
    unchanged: int = 0
    errors: list[ContentError] = field(default_factory=list)
    sources: PollReport | None = None  # when upstream feeds are configured

    def summary(self) -> str:
        """One line: what changed; its error count holds each source that failed too."""
        line = (
            f"gather: {self.new} new, {self.updated} updated, {self.withdrawn} withdrawn, "
            f"{self.published} published, {self.scheduled} scheduled, "
            f"{count(len(self.all_errors()), 'error')}"
        )
        return line + (f"; {self.sources.summary()}" if self.sources else "")

    def all_errors(self) -> list[PublisherError]:
        """The content errors, then one per source that could not be fetched or read."""
        failed = self.sources.errors if self.sources else []
        return [*self.errors, *(SourceError(line) for line in failed)]


def site_settings(config: Config) -> SiteSettings:
    """What the content parser needs from the config."""
    return SiteSettings(
        url=config.site.url,
        timezone=config.site.zone,
        article_url=config.site.article_url,
        media_url=config.media_url,
        language=config.site.language,
    )


def scan_content(content_dir: Path) -> Iterator[SourceFile]:
    """Every article file under `content_dir`, with the stat values used to skip unchanged ones."""
    if not content_dir.is_dir():
        raise ContentError(str(content_dir), 0, "content folder does not exist")
    # Plain strings, not Path objects, while walking: a gather of an unchanged site is mostly this.
    root = os.fspath(content_dir)
    prefix = root if root.endswith(os.sep) else root + os.sep
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file() and is_article_file(entry.name):
                    source = entry.path.removeprefix(prefix).replace(os.sep, "/")
                    if not is_profile_source(source):
                        stat = entry.stat()
                        yield SourceFile(source, entry.path, stat.st_size, stat.st_mtime_ns)


def media_lookup(content_dir: Path) -> Callable[[str], MediaFile | None]:
    """Find a file in the content folder (never outside it) and tell its length and type."""
    root = content_dir.resolve()

    def lookup(relative: str) -> MediaFile | None:
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        media_type, _ = mimetypes.guess_type(path.name)
        return MediaFile(path.stat().st_size, media_type or "application/octet-stream")

    return lookup


def check_content(config: Config) -> tuple[list[Article], list[ContentError]]:
    """Parse every article without touching the store: what `publisher check` reports."""
    site, media = site_settings(config), media_lookup(config.content_dir)
    parsed: list[Article] = []
    errors: list[ContentError] = []
    claims = _Claims()
    for file in sorted(scan_content(config.content_dir), key=lambda f: f.source):
        try:
            article = parse_article(file.source, file.path.read_bytes(), site, media)
            claims.check(article)
        except ContentError as error:
            errors.append(error)
            continue
        claims.take(article)
        parsed.append(article)
    errors += check_profiles(config.content_dir, site, media)[1]
    return parsed, errors


def gather(store_: Store, config: Config, clock: Clock = system_clock) -> GatherReport:
    """Fetch the due upstream feeds, scan the content folder, withdraw deleted, publish due."""
    polled = None
    if config.sources:  # fetching and feed parsing load only for a site that has sources
        polled = _poll_or_log(store_, config, clock)
    run = _GatherRun(config, clock())
    run.report.sources = polled
    files = sorted(scan_content(config.content_dir), key=lambda f: f.source)
    with store_.transaction() as connection:
        run.execute(connection, files)
    # The caller reports the errors (the CLI on stderr, the daemon in its log): never twice.
    return run.report


def _poll_or_log(store_: Store, config: Config, clock: Clock) -> PollReport | None:
    """Poll the upstream feeds; a failure there is logged and never stops local articles,
    feeds or digests (each source's own failure is already in its report)."""
    from publisher.sources.poll import poll_sources

    try:
        return poll_sources(store_, config, clock)
    except StoreError:
        raise  # the store is down: nothing else would work either
    except Exception:
        log.exception("polling the upstream sources failed; local articles are gathered")
        return None


class _Claims:
    """Slugs and ids already taken by live articles, to refuse duplicates."""

    def __init__(self) -> None:
        self.slugs: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.claimed_by: dict[str, tuple[str, str | None]] = {}  # source -> (slug, key)

    def check(self, article: Article) -> None:
        owner = self.slugs.get(article.slug)
        if owner not in (None, article.source):
            raise ContentError(
                article.source, 1, f"slug {article.slug!r} is already used by {owner}"
            )
        owner = self.keys.get(article.key) if article.key else None
        if owner not in (None, article.source):
            raise ContentError(article.source, 1, f"id {article.key!r} is already used by {owner}")

    def take(self, article: Article) -> None:
        self._claim(article.source, article.slug, article.key)

    def take_stored(self, row: StoredFile) -> None:
        self._claim(row.source, row.slug, row.key)

    def _claim(self, source: str, slug: str, key: str | None) -> None:
        self.release(source)
        self.slugs[slug] = source
        if key:
            self.keys[key] = source
        self.claimed_by[source] = (slug, key)

    def release(self, source: str) -> None:
        slug, key = self.claimed_by.pop(source, ("", None))
        if self.slugs.get(slug) == source:
            del self.slugs[slug]
        if key and self.keys.get(key) == source:
            del self.keys[key]


class _GatherRun:
    def __init__(self, config: Config, now: datetime) -> None:
        self.config = config
        self.now = now
        self.site = site_settings(config)
        self.media = media_lookup(config.content_dir)
        self.report = GatherReport()
        self.claims = _Claims()
        self.withdrawn = WithdrawnArticles({}, {})
        self.new_rows: list[dict[str, Any]] = []

    def execute(self, connection: Connection, files: list[SourceFile]) -> None:
        # Two gathers at once on PostgreSQL would both add the same new articles.
        lock_counter(connection, PUBLICATION_COUNTER)
        fingerprint = self._fingerprint()
        rerender = setting(connection, _FINGERPRINT_SETTING) != fingerprint
        live = {row.source: row for row in stored_files(connection)}
        present = {file.source for file in files}
        for row in live.values():
            if row.source not in present:
                update_article(
                    connection,
                    row.id,
                    {"status": ArticleStatus.WITHDRAWN, "withdrawn_at": self.now},
                )
                self.report.withdrawn += 1
            else:
                self.claims.take_stored(row)
        self.withdrawn = withdrawn_articles(connection)  # those just withdrawn included
        for start in range(0, len(files), _PARSE_BATCH):
            self._gather_files(connection, files[start : start + _PARSE_BATCH], live, rerender)
        self._insert_new_rows(connection)
        self.report.published += publish_due_articles(connection, self.now)
        assign_publication_sequence(connection, self.now)
        self.report.errors += gather_profiles(
            connection, self.config.content_dir, self.site, self.media, rerender
        )
        report = self.report
        if rerender or report.new or report.updated or report.withdrawn or report.published:
            put_related(connection, related_articles(related_candidates(connection)))
        self.report.scheduled = count_articles(connection, ArticleStatus.SCHEDULED)
        put_setting(connection, _FINGERPRINT_SETTING, fingerprint)
        failed_sources = len(self.report.sources.errors) if self.report.sources else 0
        record_gather(connection, self.report.errors, self.now, failed_sources)

    def _gather_files(
        self,
        connection: Connection,
        files: list[SourceFile],
        live: dict[str, StoredFile],
        rerender: bool,
    ) -> None:
        """Parse the files that changed (in worker processes when many) and store them."""
        changed = []
        for file in files:
            stored = live.get(file.source)
            content = self._changed_content(connection, file, stored, rerender)
            if content is not None:
                changed.append((file, stored, *content))
        sources = [(file.source, raw) for file, _, raw, _ in changed]
        parsed = parsed_articles(sources, self.site, self.media)
        for (file, stored, raw, content_hash), article in zip(changed, parsed, strict=True):
            self._take(connection, article, stored, len(raw), file.mtime_ns, content_hash)
            if len(self.new_rows) >= _INSERT_BATCH:
                self._insert_new_rows(connection)

    def _changed_content(
        self, connection: Connection, file: SourceFile, row: StoredFile | None, rerender: bool
    ) -> tuple[bytes, str] | None:
        """The file's bytes and their hash when it must be parsed; None when it is unchanged
        (its recorded size and time brought up to date) or unreadable (an error reported)."""
        unchanged_stat = row and (row.file_size, row.file_mtime_ns) == (file.size, file.mtime_ns)
        if unchanged_stat and not rerender:
            self.report.unchanged += 1
            return None
        try:
            raw = file.path.read_bytes()
        except OSError as error:
            self.report.errors.append(ContentError(file.source, 0, f"cannot read: {error}"))
            return None
        content_hash = hashlib.sha256(raw).hexdigest()
        if row and row.content_hash == content_hash and not rerender:
            update_article(
                connection, row.id, {"file_size": len(raw), "file_mtime_ns": file.mtime_ns}
            )
            self.report.unchanged += 1
            return None
        return raw, content_hash

    def _take(
        self,
        connection: Connection,
        article: Article | ContentError,
        row: StoredFile | None,
        size: int,
        mtime_ns: int,
        content_hash: str,
    ) -> None:
        """Store a parsed article (new, re-rendered or changed), unless its slug or id is taken."""
        try:
            if isinstance(article, ContentError):
                raise article
            self.claims.check(article)
        except ContentError as error:
            self.report.errors.append(error)
            return
        self.claims.take(article)
        stat = {"file_size": size, "file_mtime_ns": mtime_ns}
        values = {**article_values(article), **stat, "content_hash": content_hash}
        if row is None:
            self._add(connection, article, values)
        elif row.content_hash == content_hash:
            update_article(connection, row.id, values)  # only the rendering changed
        else:
            self._update(connection, article, row, values)

    def _add(self, connection: Connection, article: Article, values: dict[str, Any]) -> None:
        guid = article_guid(article, self.config.site.url)
        values |= {
            "status": self._status(article),
            "updated_at": article.updated or article.date,
            "withdrawn_at": None,
        }
        revived = self.withdrawn.take(key=article.key, guid=guid)
        if revived is not None:
            update_article(connection, revived, values)
        else:
            self.new_rows.append(values | {"guid": guid, "first_seen_at": self.now})
        self.report.new += 1
        if values["status"] == ArticleStatus.PUBLIC:
            self.report.published += 1

    def _insert_new_rows(self, connection: Connection) -> None:
        insert_articles(connection, self.new_rows)
        self.new_rows = []

    def _update(
        self, connection: Connection, article: Article, row: StoredFile, values: dict[str, Any]
    ) -> None:
        status = self._status(article)
        values |= {"status": status, "updated_at": article.updated or self.now}
        update_article(connection, row.id, values)
        self.report.updated += 1
        if status == ArticleStatus.PUBLIC and row.status != ArticleStatus.PUBLIC:
            self.report.published += 1

    def _status(self, article: Article) -> str:
        if article.draft:
            return ArticleStatus.DRAFT
        return ArticleStatus.SCHEDULED if article.date > self.now else ArticleStatus.PUBLIC

    def _fingerprint(self) -> str:
        site = self.site
        settings = [
            RENDERER_VERSION, site.url, site.timezone.key, site.article_url, site.media_url,
            site.language,
        ]  # fmt: skip
        return hashlib.sha256(json.dumps(settings).encode()).hexdigest()
