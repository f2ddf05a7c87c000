"""Upstream feeds, the shell: claim the sources that are due, fetch them, store their items.

A source is claimed inside a transaction (its next fetch time moved past a lease) before it is
fetched, so two `gather` processes at once never fetch or store the same source twice. Each
source's items are stored in a transaction of their own: one source's failure never touches
another's. Items are articles with their own URL and an `origin`; they take a publication
sequence like local articles, so feeds and digests treat them alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from publisher.clock import Clock, system_clock
from publisher.config import Config, SourceConfig
from publisher.content.articles import Origin
from publisher.content.markup import plain_text
from publisher.errors import SourceError
from publisher.sources.fetch import (
    FetchRequest,
    FetchResult,
    FetchSettings,
    default_user_agent,
    fetch_all,
    retry_delay,
)
from publisher.sources.parse import (
    FeedItem,
    ParsedFeed,
    SourceSettings,
    item_article,
    item_guid,
    newest_first,
    parse_feed,
)
from publisher.store.articles import article_values, assign_publication_sequence, update_article
from publisher.store.database import Store
from publisher.store.schema import articles, source_items, sources
from publisher.store.statuses import ArticleStatus

log = logging.getLogger(__name__)

LONGEST_BACKOFF = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers of a source between fetches."""

    name: str
    configured_url: str
    url: str
    etag: str | None
    last_modified: str | None
    title: str | None
    home_url: str | None
    primed: bool
    disabled: bool
    failures: int
    items: int
    last_fetch_at: datetime | None
    last_status: str | None
    last_error: str | None
    problem: str | None
    next_fetch_at: datetime | None


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one source's fetch came to."""

    name: str
    status: str
    new: int = 0
    updated: int = 0
    error: str | None = None

    def line(self) -> str:
        """One line for the operator."""
        if self.error:
            return f"source {self.name}: {self.error}"
        if self.status == "fetched":
            return f"source {self.name}: {self.new} new, {self.updated} updated"
        return f"source {self.name}: {self.status}"


@dataclass(slots=True)
class PollReport:
    """Every source fetched in one pass; sources not yet due are only counted."""

    outcomes: list[SourceOutcome] = field(default_factory=list)
    not_due: int = 0

    @property
    def errors(self) -> list[str]:
        return [outcome.line() for outcome in self.outcomes if outcome.error]

    def summary(self) -> str:
        """One line: what the pass did."""
        new = sum(outcome.new for outcome in self.outcomes)
        updated = sum(outcome.updated for outcome in self.outcomes)
        return (
            f"sources: {len(self.outcomes)} fetched, {self.not_due} not due, {new} new items, "
            f"{updated} updated, {len(self.errors)} errors"
        )


def fetch_settings(config: Config) -> FetchSettings:
    """The `[fetch]` section as the fetcher takes it."""
    fetch = config.fetch
    return FetchSettings(
        timeout=fetch.timeout,
        max_bytes=fetch.max_bytes,
        concurrency=fetch.concurrency,
        user_agent=fetch.user_agent or default_user_agent(config.site.url),
        allow_private=fetch.allow_private,
        allow_addresses=fetch.allow_addresses,
    )


def source_settings(source: SourceConfig) -> SourceSettings:
    """What parsing needs of a `[[sources]]` table."""
    return SourceSettings(
        name=source.name,
        title=source.title,
        categories=source.categories,
        author=source.author,
        content=source.content,
    )


def poll_sources(
    store_: Store,
    config: Config,
    clock: Clock = system_clock,
    names: Sequence[str] | None = None,
    force: bool = False,
) -> PollReport:
    """Fetch the sources that are due (or `names`, due or not, with `force`) and store items.

    Failures are in the report (`errors`), for the caller to show or log.
    """
    wanted = [config.source(name) for name in names] if names else list(config.sources)
    report = PollReport()
    with store_.transaction() as connection:
        requests = _claim(connection, config, wanted, clock(), force, report)
    results = fetch_all(requests, fetch_settings(config))
    by_name = {source.name: source for source in wanted}
    for result in results:
        report.outcomes.append(_apply(store_, config, by_name[result.name], result, clock()))
    return report


def source_states(store_: Store) -> dict[str, SourceState]:
    """Every source the store has fetched or tried to, by name."""
    with store_.transaction() as connection:
        return {state.name: state for state in _states(connection)}


# Claiming -----------------------------------------------------------------------------------


def _claim(
    connection: Connection,
    config: Config,
    wanted: Sequence[SourceConfig],
    now: datetime,
    force: bool,
    report: PollReport,
) -> list[FetchRequest]:
    """Take the sources to fetch now: each one's next fetch moves a lease ahead, atomically."""
    states = {state.name: state for state in _states(connection)}
    lease = timedelta(seconds=config.fetch.timeout * 2 + 60)
    requests = []
    for source in wanted:
        state = _current_state(connection, source, states.get(source.name))
        due = state.next_fetch_at is None or state.next_fetch_at <= now
        if (state.disabled or not due) and not force:
            report.not_due += 1
            continue
        claim = sources.update().where(sources.c.name == source.name)
        if not force:
            claim = claim.where(
                sa.or_(sources.c.next_fetch_at.is_(None), sources.c.next_fetch_at <= now),
                sources.c.disabled == sa.false(),
            )
        # Another process may have claimed it since it was read: the row lock decides.
        if connection.execute(claim.values(next_fetch_at=now + lease)).rowcount != 1:
            report.not_due += 1
            continue
        requests.append(FetchRequest(source.name, state.url, state.etag, state.last_modified))
    return requests


def _current_state(
    connection: Connection, source: SourceConfig, state: SourceState | None
) -> SourceState:
    """The source's row, made if new; a changed `url` in the config starts it afresh."""
    if state is None:
        try:
            with connection.begin_nested():
                connection.execute(
                    sources.insert().values(
                        name=source.name, configured_url=source.url, url=source.url
                    )
                )
        except IntegrityError:
            pass  # another process made it first
    elif state.configured_url != source.url:
        connection.execute(
            sources.update()
            .where(sources.c.name == source.name)
            .values(
                configured_url=source.url,
                url=source.url,
                etag=None,
                last_modified=None,
                disabled=False,
                failures=0,
                next_fetch_at=None,
            )
        )
    else:
        return state
    return _states(connection, source.name)[0]


def _states(connection: Connection, name: str | None = None) -> list[SourceState]:
    query = sa.select(*(sources.c[f] for f in SourceState.__dataclass_fields__))
    if name is not None:
        query = query.where(sources.c.name == name)
    return [SourceState(**row._mapping) for row in connection.execute(query.order_by("name"))]


# Applying a fetch ---------------------------------------------------------------------------


def _apply(
    store_: Store, config: Config, source: SourceConfig, result: FetchResult, now: datetime
) -> SourceOutcome:
    every = source.every
    parsed: ParsedFeed | None = None
    error = result.error
    if result.outcome == "fetched":
        try:
            parsed = parse_feed(
                result.body, result.url, result.content_type, source_settings(source)
            )
        except SourceError as problem:
            error = str(problem).removeprefix(f"source {source.name}: ")
        except Exception as problem:  # one source's surprise must not stop the others
            log.exception("source %s: reading %s", source.name, result.url)
            error = f"{result.url}: cannot read the feed: {type(problem).__name__}: {problem}"
    with store_.transaction() as connection:
        state = _states(connection, source.name)[0]
        values: dict[str, Any] = {
            "last_fetch_at": now,
            "last_status": str(result.status or "error"),
        }
        if result.moved_to:
            values["url"] = result.moved_to
        if result.outcome == "gone":
            values |= {"disabled": True, "last_error": f"{error}: source disabled"}
            _update_state(connection, source.name, values)
            return SourceOutcome(source.name, "gone", error=f"{error}: source disabled")
        if error is not None or result.outcome == "failed":
            failures = state.failures + 1
            delay = _failure_delay(every, failures, retry_delay(result.retry_after, now))
            values |= {"failures": failures, "last_error": error, "next_fetch_at": now + delay}
            _update_state(connection, source.name, values)
            return SourceOutcome(source.name, "failed", error=error)
        values |= {"failures": 0, "last_error": None, "next_fetch_at": now + every}
        values |= {"etag": result.etag, "last_modified": result.last_modified, "disabled": False}
        if parsed is None:
            _update_state(connection, source.name, values)
            return SourceOutcome(source.name, "not modified")
        origin = Origin(
            name=source.name,
            title=plain_text(source.title) or parsed.title or source.name,
            feed_url=result.moved_to or state.url,
            home_url=parsed.home_url,
        )
        new, updated = _store_items(connection, config, source, state, parsed, origin, now)
        if parsed.problem and parsed.problem != state.problem:
            log.warning("source %s: %s: %s", source.name, result.url, parsed.problem)
        values |= {
            "primed": True,
            "title": parsed.title,
            "home_url": parsed.home_url,
            "items": state.items + new,
            "problem": parsed.problem,
        }
        _update_state(connection, source.name, values)
    return SourceOutcome(source.name, "fetched", new=new, updated=updated)


def _failure_delay(every: timedelta, failures: int, retry_after: timedelta | None) -> timedelta:
    """Doubling with each failure in a row, up to a day; or the server's Retry-After."""
    backoff = every * (1 << min(failures, 20))
    if retry_after is not None:
        backoff = max(retry_after, every)
    return min(backoff, LONGEST_BACKOFF)


def _update_state(connection: Connection, name: str, values: dict[str, Any]) -> None:
    connection.execute(sources.update().where(sources.c.name == name).values(**values))


@dataclass(frozen=True, slots=True)
class _KnownItem:
    item_id: str
    article_id: int | None
    content_hash: str
    first_seen_at: datetime


def _store_items(
    connection: Connection,
    config: Config,
    source: SourceConfig,
    state: SourceState,
    parsed: ParsedFeed,
    origin: Origin,
    now: datetime,
) -> tuple[int, int]:
    """Add new items, update edited ones; returns (new, updated).

    The first fetch publishes only the newest `backfill` items and marks the rest as seen.
    """
    known = _known_items(connection, source.name)
    fresh = [item for item in parsed.items if item.item_id not in known]
    chosen = fresh if state.primed else newest_first(fresh)[: source.backfill]
    article_ids = _insert_items(connection, config, chosen, origin, now)
    if fresh:
        connection.execute(
            source_items.insert(),
            [
                {
                    "source": source.name,
                    "item_id": item.item_id,
                    "article_id": article_ids.get(item.item_id),
                    "content_hash": item.content_hash,
                    "first_seen_at": now,
                }
                for item in fresh
            ],
        )
    updated = 0
    for item in parsed.items:
        seen = known.get(item.item_id)
        if seen is None or seen.content_hash == item.content_hash:
            continue
        if seen.article_id is not None:
            article = item_article(item, origin, seen.first_seen_at)
            values = article_values(article) | {
                "content_hash": item.content_hash,
                "updated_at": article.updated or now,
            }
            update_article(connection, seen.article_id, values)
            updated += 1
        connection.execute(
            source_items.update()
            .where(source_items.c.source == source.name, source_items.c.item_id == item.item_id)
            .values(content_hash=item.content_hash)
        )
    assign_publication_sequence(connection, now)
    return len(article_ids), updated


def _insert_items(
    connection: Connection,
    config: Config,
    items: Sequence[FeedItem],
    origin: Origin,
    now: datetime,
) -> dict[str, int]:
    """Insert the items as public articles in one statement; their ids by item id."""
    if not items:
        return {}
    rows = []
    for item in items:
        article = item_article(item, origin, now)
        rows.append(
            article_values(article)
            | {
                "guid": item_guid(config.site.url, origin.name, item.upstream_guid),
                "status": ArticleStatus.PUBLIC,
                "updated_at": article.updated or article.date,
                "first_seen_at": now,
                "withdrawn_at": None,
                "content_hash": item.content_hash,
                "file_size": 0,
                "file_mtime_ns": 0,
            }
        )
    inserted = connection.execute(
        articles.insert().returning(articles.c.id, sort_by_parameter_order=True), rows
    )
    ids = [int(article_id) for article_id in inserted.scalars()]
    return {item.item_id: article_id for item, article_id in zip(items, ids, strict=True)}


def _known_items(connection: Connection, name: str) -> dict[str, _KnownItem]:
    query = sa.select(
        source_items.c.item_id,
        source_items.c.article_id,
        source_items.c.content_hash,
        source_items.c.first_seen_at,
    ).where(source_items.c.source == name)
    return {row.item_id: _KnownItem(**row._mapping) for row in connection.execute(query)}
