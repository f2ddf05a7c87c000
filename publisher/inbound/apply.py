"""Apply inbound events to subscribers: store each once, then count bounces, honour the rest.

Rules:
- a hard bounce counts toward `[delivery] bounce_limit`; at the limit a confirmed subscriber
  becomes `bounced`;
- soft bounces count only in bulk: each time `soft_bounce_limit` of them have arrived within
  `soft_bounce_window`, that counts as one bounce toward the same limit;
- a complaint unsubscribes the subscriber from every digest and marks them `complained`;
- a mailto unsubscribe takes the subscriber off the digest its token names (off the list when
  it was the last one).

An event is found by its token when the token verifies (its delivery row names subscriber,
edition and digest), else by the address it reports; an unsubscribe needs its token. Each
event's key is stored, unique: the same report twice changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from publisher.audience.subscribers import SubscriberError, check_address
from publisher.config import Config
from publisher.errors import StoreError
from publisher.inbound.events import InboundEvent
from publisher.mail.mime import MessageError, message_id
from publisher.mail.transport.returnpath import UNSUBSCRIBE as UNSUBSCRIBE_TOKEN
from publisher.mail.transport.returnpath import verify_return_token
from publisher.store.database import Store
from publisher.store.schema import deliveries, editions, events, subscribers, subscriptions
from publisher.store.statuses import EventKind, SubscriberStatus
from publisher.store.subscribers import count_hard_bounces

log = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"<e([0-9]+)\.s([0-9]+)\.[0-9a-f]{12}@[^>]+>")

APPLIED, DUPLICATE, UNMATCHED = "applied", "duplicate", "unmatched"


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one event did: APPLIED, DUPLICATE (seen before) or UNMATCHED."""

    outcome: str
    kind: str
    subscriber_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as `subscribers show` lists it."""

    kind: str
    code: str
    diagnostic: str
    source: str
    digest: str | None
    delivery_id: int | None
    edition_id: int | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class _Target:
    subscriber_id: int
    delivery_id: int | None
    digest: str | None


def apply_event(
    store: Store, config: Config, secret: bytes, event: InboundEvent, now: datetime
) -> Applied:
    """Store one event and change its subscriber; an event seen before changes nothing."""
    try:
        with store.transaction() as connection:
            return _apply(connection, config, secret, event, now)
    except IntegrityError:
        # The same event, applied at the same moment by another reader, won the insert.
        return Applied(DUPLICATE, event.kind)
    except SQLAlchemyError as error:
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        raise StoreError(f"cannot record a {event.kind} event: {reason}") from None


def subscriber_events(store: Store, subscriber_id: int) -> list[StoredEvent]:
    """A subscriber's events, oldest first."""
    query = (
        sa.select(
            events.c.kind,
            events.c.code,
            events.c.diagnostic,
            events.c.source,
            events.c.digest,
            events.c.delivery_id,
            deliveries.c.edition_id,
            events.c.occurred_at,
        )
        .select_from(events.outerjoin(deliveries, deliveries.c.id == events.c.delivery_id))
        .where(events.c.subscriber_id == subscriber_id)
        .order_by(events.c.occurred_at, events.c.id)
    )
    with store.transaction() as connection:
        return [StoredEvent(**row._mapping) for row in connection.execute(query)]


def _apply(
    connection: Connection, config: Config, secret: bytes, event: InboundEvent, now: datetime
) -> Applied:
    seen = connection.scalar(sa.select(events.c.id).where(events.c.key == event.key))
    if seen is not None:
        return Applied(DUPLICATE, event.kind)
    target = _target(connection, config, secret, event)
    if target is None:
        log.info("%s for %s: no such subscriber", event.kind, event.recipient or event.token)
        return Applied(UNMATCHED, event.kind)
    connection.execute(
        events.insert().values(
            key=event.key,
            subscriber_id=target.subscriber_id,
            delivery_id=target.delivery_id,
            kind=event.kind,
            code=event.code[:32],
            diagnostic=event.diagnostic,
            source=event.source[:16],
            digest=target.digest if event.kind == EventKind.UNSUBSCRIBE else None,
            occurred_at=now,
        )
    )
    if event.kind == EventKind.HARD_BOUNCE:
        count_hard_bounces(connection, [target.subscriber_id], config.delivery.bounce_limit)
    elif event.kind == EventKind.SOFT_BOUNCE:
        _count_soft_bounce(connection, config, target.subscriber_id, now)
    elif event.kind == EventKind.COMPLAINT:
        _complain(connection, target.subscriber_id, now)
    elif event.kind == EventKind.UNSUBSCRIBE and target.digest is not None:
        _unsubscribe_from(connection, target.subscriber_id, target.digest, now)
    return Applied(APPLIED, event.kind, target.subscriber_id)


def _target(
    connection: Connection, config: Config, secret: bytes, event: InboundEvent
) -> _Target | None:
    """Whom the event is about: by its token if it verifies, else by the Message-ID of ours
    it quotes, else by its address."""
    claim = verify_return_token(secret, event.token) if event.token else None
    if claim is not None:
        row = connection.execute(
            sa.select(deliveries.c.id, deliveries.c.subscriber_id, editions.c.digest)
            .join(editions, editions.c.id == deliveries.c.edition_id)
            .where(deliveries.c.id == claim.delivery_id)
        ).first()
        if row is not None and (
            event.kind != EventKind.UNSUBSCRIBE or claim.kind == UNSUBSCRIBE_TOKEN
        ):
            return _Target(int(row.subscriber_id), int(row.id), str(row.digest))
    elif event.token:
        log.warning("%s: token %r does not verify; ignored", event.kind, event.token)
    if event.kind == EventKind.UNSUBSCRIBE:
        return None
    quoted = _quoted_delivery(connection, config, event.original_id)
    if quoted is not None:
        return quoted
    if not event.recipient:
        return None
    try:
        key = check_address(event.recipient).key
    except SubscriberError:
        key = event.recipient.casefold()
    found = connection.scalar(sa.select(subscribers.c.id).where(subscribers.c.email_key == key))
    return None if found is None else _Target(int(found), None, None)


def _quoted_delivery(
    connection: Connection, config: Config, original_id: str | None
) -> _Target | None:
    """The delivery whose message has the Message-ID `original_id`, if it is one of ours."""
    match = _MESSAGE_ID.fullmatch(original_id or "")
    if match is None:
        return None
    edition_id, subscriber_id = int(match.group(1)), int(match.group(2))
    try:
        ours = message_id(edition_id, subscriber_id, config.site.url)
    except MessageError:
        return None
    if ours != original_id:
        return None
    row = connection.execute(
        sa.select(deliveries.c.id, editions.c.digest)
        .join(editions, editions.c.id == deliveries.c.edition_id)
        .where(deliveries.c.edition_id == edition_id, deliveries.c.subscriber_id == subscriber_id)
    ).first()
    return None if row is None else _Target(subscriber_id, int(row.id), str(row.digest))


def _count_soft_bounce(
    connection: Connection, config: Config, subscriber_id: int, now: datetime
) -> None:
    since = now - config.delivery.soft_bounce_window
    recent = connection.scalar(
        sa.select(sa.func.count())
        .select_from(events)
        .where(
            events.c.subscriber_id == subscriber_id,
            events.c.kind == EventKind.SOFT_BOUNCE,
            events.c.occurred_at > since,
        )
    )
    if recent and int(recent) % config.delivery.soft_bounce_limit == 0:
        count_hard_bounces(connection, [subscriber_id], config.delivery.bounce_limit)


def _complain(connection: Connection, subscriber_id: int, now: datetime) -> None:
    connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id == subscriber_id, subscribers.c.status != SubscriberStatus.COMPLAINED
        )
        .values(status=SubscriberStatus.COMPLAINED, unsubscribed_at=now)
    )
    connection.execute(subscriptions.delete().where(subscriptions.c.subscriber_id == subscriber_id))


def _unsubscribe_from(
    connection: Connection, subscriber_id: int, digest: str, now: datetime
) -> None:
    connection.execute(
        subscriptions.delete().where(
            subscriptions.c.subscriber_id == subscriber_id, subscriptions.c.digest == digest
        )
    )
    remaining = connection.scalar(
        sa.select(sa.func.count())
        .select_from(subscriptions)
        .where(subscriptions.c.subscriber_id == subscriber_id)
    )
    if not remaining:
        connection.execute(
            subscribers.update()
            .where(
                subscribers.c.id == subscriber_id,
                subscribers.c.status.in_([SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING]),
            )
            .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=now)
        )
