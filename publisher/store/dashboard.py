"""What the dashboard, the API and `articles list` read: growth, rates, pages of subscribers,
editions with their ledgers, articles by status, sources that fail.

Simple versions written for the dashboard: the subscriber search here (an address prefix,
or every word of a name; pages by offset, or after an id for the API) is meant to give way to
the store's scaled subscriber queries when those land.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.schema import (
    articles,
    deliveries,
    editions,
    events,
    sources,
    subscribers,
    subscriptions,
)
from publisher.store.statuses import ArticleStatus, DeliveryStatus, EventKind

MAX_QUERY_LENGTH = 200


# Growth and rates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrowthMoments:
    """When each confirmation, unsubscribe and bounce since a moment happened."""

    confirmations: list[datetime]
    unsubscribes: list[datetime]
    bounces: list[datetime]


def growth_moments(connection: Connection, since: datetime) -> GrowthMoments:
    """Every confirmation, unsubscribe and bounce (hard or soft) since `since`."""
    confirmed = sa.select(subscribers.c.confirmed_at).where(subscribers.c.confirmed_at >= since)
    left = sa.select(subscribers.c.unsubscribed_at).where(subscribers.c.unsubscribed_at >= since)
    bounced = sa.select(events.c.occurred_at).where(
        events.c.occurred_at >= since,
        events.c.kind.in_([EventKind.HARD_BOUNCE, EventKind.SOFT_BOUNCE]),
    )
    return GrowthMoments(
        confirmations=list(connection.execute(confirmed).scalars()),
        unsubscribes=list(connection.execute(left).scalars()),
        bounces=list(connection.execute(bounced).scalars()),
    )


@dataclass(frozen=True, slots=True)
class MailRates:
    """Messages accepted since a moment, and the hard bounces and complaints that came back."""

    sent: int
    bounces: int
    complaints: int


def mail_rates(connection: Connection, since: datetime) -> MailRates:
    """Sent, hard bounces and complaints since `since`."""
    sent = connection.scalar(
        sa.select(sa.func.count())
        .select_from(deliveries)
        .where(deliveries.c.status == DeliveryStatus.SENT, deliveries.c.sent_at >= since)
    )
    by_kind: dict[str, int] = {
        str(kind): int(number)
        for kind, number in connection.execute(
            sa.select(events.c.kind, sa.func.count())
            .where(
                events.c.occurred_at >= since,
                events.c.kind.in_([EventKind.HARD_BOUNCE, EventKind.COMPLAINT]),
            )
            .group_by(events.c.kind)
        )
    }
    return MailRates(
        int(sent or 0),
        int(by_kind.get(EventKind.HARD_BOUNCE, 0)),
        int(by_kind.get(EventKind.COMPLAINT, 0)),
    )


# Subscribers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A subscriber as a list shows them."""

    id: int
    email: str
    name: str
    status: str
    created_at: datetime
    confirmed_at: datetime | None
    digests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscriberFilter:
    """A search: an address prefix or words of a name (`text`), a status, a digest."""

    text: str = ""
    status: str | None = None
    digest: str | None = None


def _filtered(query: sa.Select[Any], wanted: SubscriberFilter) -> sa.Select[Any]:
    text = " ".join(wanted.text.split())[:MAX_QUERY_LENGTH]
    if text:
        # An address's start (the stored key is the address casefolded), or words of a name.
        prefix = _escape_like(text.casefold())
        by_address = subscribers.c.email_key.like(f"{prefix}%", escape="\\")
        words = [_escape_like(word.casefold()) for word in text.split()]
        by_name = sa.and_(
            *(sa.func.lower(subscribers.c.name).like(f"%{word}%", escape="\\") for word in words)
        )
        query = query.where(sa.or_(by_address, by_name))
    if wanted.status:
        query = query.where(subscribers.c.status == wanted.status)
    if wanted.digest:
        members = sa.select(subscriptions.c.subscriber_id).where(
            subscriptions.c.digest == wanted.digest
        )
        query = query.where(subscribers.c.id.in_(members))
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def count_subscribers_matching(connection: Connection, wanted: SubscriberFilter) -> int:
    """How many subscribers a search finds."""
    query = _filtered(sa.select(sa.func.count(subscribers.c.id)), wanted)
    return int(connection.scalar(query) or 0)


def subscribers_matching(
    connection: Connection,
    wanted: SubscriberFilter,
    limit: int,
    offset: int = 0,
    after_id: int = 0,
) -> list[SubscriberRow]:
    """A page of the subscribers a search finds, by id: from `offset`, or after `after_id`."""
    query = _filtered(sa.select(subscribers.c.id), wanted)
    query = query.where(subscribers.c.id > after_id).order_by(subscribers.c.id)
    ids = [
        int(each)
        for each in connection.execute(query.limit(limit).offset(offset or None)).scalars()
    ]
    return subscriber_rows(connection, ids)


def subscriber_rows(connection: Connection, ids: Sequence[int]) -> list[SubscriberRow]:
    """Subscribers by id, in the order given, with their digests."""
    if not ids:
        return []
    rows = {
        row.id: row
        for row in connection.execute(
            sa.select(
                subscribers.c.id,
                subscribers.c.email,
                subscribers.c.name,
                subscribers.c.status,
                subscribers.c.created_at,
                subscribers.c.confirmed_at,
            ).where(subscribers.c.id.in_(ids))
        )
    }
    digests: dict[int, list[str]] = {}
    for subscriber_id, digest in connection.execute(
        sa.select(subscriptions.c.subscriber_id, subscriptions.c.digest)
        .where(subscriptions.c.subscriber_id.in_(ids))
        .order_by(subscriptions.c.digest)
    ):
        digests.setdefault(subscriber_id, []).append(digest)
    return [
        SubscriberRow(**rows[each]._mapping, digests=tuple(digests.get(each, ())))
        for each in ids
        if each in rows
    ]


# Editions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditionRow:
    """An edition without its bodies, with its ledger counts by status."""

    id: int
    digest: str
    number: int
    subject: str
    created_at: datetime
    articles: int
    delivery_started_at: datetime | None
    delivered_at: datetime | None
    ledger: dict[str, int]


_EDITION_COLUMNS = (
    editions.c.id,
    editions.c.digest,
    editions.c.number,
    editions.c.subject,
    editions.c.created_at,
    editions.c.article_guids,
    editions.c.delivery_started_at,
    editions.c.delivered_at,
)


def edition_rows(
    connection: Connection,
    limit: int,
    digest: str | None = None,
    before_id: int | None = None,
    edition_id: int | None = None,
) -> list[EditionRow]:
    """Editions newest first (or the one with `edition_id`), with their ledger counts."""
    query = sa.select(*_EDITION_COLUMNS).order_by(editions.c.id.desc()).limit(limit)
    if digest is not None:
        query = query.where(editions.c.digest == digest)
    if before_id is not None:
        query = query.where(editions.c.id < before_id)
    if edition_id is not None:
        query = query.where(editions.c.id == edition_id)
    rows = connection.execute(query).all()
    counts: dict[int, dict[str, int]] = {row.id: {} for row in rows}
    if rows:
        for each, status, number in connection.execute(
            sa.select(deliveries.c.edition_id, deliveries.c.status, sa.func.count())
            .where(deliveries.c.edition_id.in_(list(counts)))
            .group_by(deliveries.c.edition_id, deliveries.c.status)
        ):
            counts[each][status] = int(number)
    return [
        EditionRow(
            id=row.id,
            digest=row.digest,
            number=row.number,
            subject=row.subject,
            created_at=row.created_at,
            articles=len(row.article_guids),
            delivery_started_at=row.delivery_started_at,
            delivered_at=row.delivered_at,
            ledger=counts[row.id],
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class DeliveryProblem:
    """A ledger row that did not go out, and why."""

    subscriber_id: int
    email: str
    status: str
    attempts: int
    last_error: str | None


def delivery_problems(
    connection: Connection, edition_id: int, limit: int = 200
) -> list[DeliveryProblem]:
    """An edition's failed, retryable and uncertain rows, with their reasons."""
    rows = connection.execute(
        sa.select(
            deliveries.c.subscriber_id,
            deliveries.c.email,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.last_error,
        )
        .where(
            deliveries.c.edition_id == edition_id,
            deliveries.c.status.in_(
                [DeliveryStatus.FAILED, DeliveryStatus.RETRYABLE, DeliveryStatus.UNCERTAIN]
            ),
        )
        .order_by(deliveries.c.id)
        .limit(limit)
    )
    return [DeliveryProblem(**row._mapping) for row in rows]


# Articles and sources -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArticleRow:
    """An article as the list shows it."""

    id: int
    title: str
    status: str
    url: str
    source: str
    published_at: datetime
    updated_at: datetime
    feed_source: str | None


def article_rows(
    connection: Connection, status: str | None = None, limit: int = 500, offset: int = 0
) -> list[ArticleRow]:
    """Articles newest first, optionally of one status."""
    query = (
        sa.select(
            articles.c.id,
            articles.c.title,
            articles.c.status,
            articles.c.url,
            articles.c.source,
            articles.c.published_at,
            articles.c.updated_at,
            articles.c.feed_source,
        )
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(limit)
        .offset(offset or None)
    )
    if status is not None:
        query = query.where(articles.c.status == status)
    return [ArticleRow(**row._mapping) for row in connection.execute(query)]


def article_counts(connection: Connection) -> dict[str, int]:
    """Articles by status, every status present (0 when none)."""
    found: dict[str, int] = {
        str(status): int(number)
        for status, number in connection.execute(
            sa.select(articles.c.status, sa.func.count()).group_by(articles.c.status)
        )
    }
    return {status: int(found.get(status, 0)) for status in tuple(ArticleStatus)}


def make_source_due(connection: Connection, name: str, now: datetime) -> bool:
    """Make a source due now, so the next publish run fetches it; False if it was never seen."""
    updated = connection.execute(
        sources.update().where(sources.c.name == name).values(next_fetch_at=now, disabled=False)
    )
    return bool(updated.rowcount)
