"""Apply inbound events to subscribers: store each once, then count bounces, honour the rest.

Anyone can send us mail, so a report by mail acts only when it is authenticated: it carries a
return-path token that verifies (naming the delivery, or the probe, it is about), or it quotes
one of our Message-IDs whose MAC verifies. A signed webhook is authenticated by its signature.

Authenticated reports:
- a hard bounce counts toward `[delivery] bounce_limit`; at the limit a confirmed subscriber
  becomes `bounced`; a hard bounce of a probe makes them `bounced` at once;
- soft bounces count only in bulk: each time `soft_bounce_limit` of them have arrived within
  `soft_bounce_window`, that counts as one bounce toward the same limit;
- a complaint unsubscribes the subscriber from every digest and marks them `complained`;
- a mailto unsubscribe takes the subscriber off the digest its token names (off the list when
  it was the last one).

A report by mail that names only an address is evidence, not proof: it is recorded
(`verified` false, at most one per subscriber per day) and changes nothing by itself. Once such
hard bounces and complaints reach `bounce_limit`, a probe is due: a message to the address
whose envelope sender carries a probe token (`probes`), so only a real bounce of it can end the
subscription. Without `[mail] bounce_address` no probe can be sent, and such evidence is only
recorded. Each event's key is stored, unique: the same report twice changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from publisher.audience.subscribers import SubscriberError, check_address
from publisher.config import Config
from publisher.errors import StoreError
from publisher.inbound.events import InboundEvent
from publisher.mail.mime import read_message_id
from publisher.mail.transport.returnpath import PROBE, verify_return_token
from publisher.mail.transport.returnpath import UNSUBSCRIBE as UNSUBSCRIBE_TOKEN
from publisher.store.database import Store
from publisher.store.schema import deliveries, editions, events, subscribers, subscriptions
from publisher.store.statuses import EventKind, SubscriberStatus
from publisher.store.subscribers import count_hard_bounces

log = logging.getLogger(__name__)

APPLIED, DUPLICATE, UNMATCHED = "applied", "duplicate", "unmatched"
UNVERIFIED = "unverified"
# The one channel anyone can write to: a report by mail must prove itself.
MAIL_SOURCE = "mail"
# Unverified evidence about one subscriber is recorded at most once per this long.
UNVERIFIED_EVERY = timedelta(days=1)
_PROBED_KINDS = (EventKind.HARD_BOUNCE, EventKind.COMPLAINT)


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one event did: APPLIED, UNVERIFIED (recorded as evidence, nothing
    changed), DUPLICATE (seen before, or evidence already recorded today) or UNMATCHED.
    `probe_due`: the evidence reached the limit, and the caller mails the subscriber a probe."""

    outcome: str
    kind: str
    subscriber_id: int | None = None
    probe_due: bool = False


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
    verified: bool = True


@dataclass(frozen=True, slots=True)
class _Target:
    """Whom an event is about, and whether the report proved it (`verified`); `probe`: it is
    about a probe, not a delivery."""

    subscriber_id: int
    delivery_id: int | None
    digest: str | None
    verified: bool = True
    probe: bool = False


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
            events.c.verified,
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
    if not target.verified:
        return _record_evidence(connection, config, event, target, now)
    _insert_event(connection, event, target, now)
    if event.kind == EventKind.HARD_BOUNCE and target.probe:
        _bounce_at_once(connection, target.subscriber_id)
    elif event.kind == EventKind.HARD_BOUNCE:
        count_hard_bounces(connection, [target.subscriber_id], config.delivery.bounce_limit)
    elif event.kind == EventKind.SOFT_BOUNCE:
        _count_soft_bounce(connection, config, target.subscriber_id, now)
    elif event.kind == EventKind.COMPLAINT:
        _complain(connection, target.subscriber_id, now)
    elif event.kind == EventKind.UNSUBSCRIBE and target.digest is not None:
        _unsubscribe_from(connection, target.subscriber_id, target.digest, now)
    elif event.kind == EventKind.UNSUBSCRIBE:
        _unsubscribe_from_everything(connection, target.subscriber_id, now)
    return Applied(APPLIED, event.kind, target.subscriber_id)


def _target(
    connection: Connection, config: Config, secret: bytes, event: InboundEvent
) -> _Target | None:
    """Whom the event is about: by its token if it verifies, else by the Message-ID of ours
    it quotes, else (unverified, if it came by mail) by its address."""
    by_token = _target_by_token(connection, secret, event)
    if by_token is not None:
        return by_token
    if event.kind == EventKind.UNSUBSCRIBE and event.token:
        return None
    if event.kind == EventKind.UNSUBSCRIBE:
        # A request to stop from the address itself is honoured, as its link would be.
        found = _subscriber_by_address(connection, event.recipient)
        return None if found is None else _Target(found, None, None)
    quoted = _quoted_delivery(connection, config, secret, event.original_id)
    if quoted is not None:
        return quoted
    found = _subscriber_by_address(connection, event.recipient)
    if found is None:
        return None
    return _Target(found, None, None, verified=event.source != MAIL_SOURCE)


def _subscriber_by_address(connection: Connection, address: str | None) -> int | None:
    if not address:
        return None
    try:
        key = check_address(address).key
    except SubscriberError:
        key = address.casefold()
    found = connection.scalar(sa.select(subscribers.c.id).where(subscribers.c.email_key == key))
    return None if found is None else int(found)


def _target_by_token(connection: Connection, secret: bytes, event: InboundEvent) -> _Target | None:
    """The delivery (or the probe's subscriber) the event's token names, if it verifies."""
    claim = verify_return_token(secret, event.token) if event.token else None
    if claim is None:
        if event.token:
            log.warning("%s: token %r does not verify; ignored", event.kind, event.token)
        return None
    if claim.kind == PROBE:
        if event.kind == EventKind.UNSUBSCRIBE:
            return None
        found = connection.scalar(
            sa.select(subscribers.c.id).where(subscribers.c.id == claim.number)
        )
        return None if found is None else _Target(int(found), None, None, probe=True)
    row = connection.execute(
        sa.select(deliveries.c.id, deliveries.c.subscriber_id, editions.c.digest)
        .join(editions, editions.c.id == deliveries.c.edition_id)
        .where(deliveries.c.id == claim.number)
    ).first()
    if row is None or (event.kind == EventKind.UNSUBSCRIBE and claim.kind != UNSUBSCRIBE_TOKEN):
        return None
    return _Target(int(row.subscriber_id), int(row.id), str(row.digest))


def _quoted_delivery(
    connection: Connection, config: Config, secret: bytes, original_id: str | None
) -> _Target | None:
    """The delivery whose message has the Message-ID `original_id`, if it is one of ours."""
    ours = read_message_id(original_id or "", config.site.url, secret)
    if ours is None:
        return None
    edition_id, subscriber_id = ours
    row = connection.execute(
        sa.select(deliveries.c.id, editions.c.digest)
        .join(editions, editions.c.id == deliveries.c.edition_id)
        .where(deliveries.c.edition_id == edition_id, deliveries.c.subscriber_id == subscriber_id)
    ).first()
    return None if row is None else _Target(subscriber_id, int(row.id), str(row.digest))


def _insert_event(
    connection: Connection,
    event: InboundEvent,
    target: _Target,
    now: datetime,
    *,
    verified: bool = True,
) -> None:
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
            verified=verified,
        )
    )


def _record_evidence(
    connection: Connection, config: Config, event: InboundEvent, target: _Target, now: datetime
) -> Applied:
    """Record a report that proved nothing, at most one per subscriber per day; say whether a
    probe is now due."""
    recent = connection.scalar(
        sa.select(sa.func.count())
        .select_from(events)
        .where(
            events.c.subscriber_id == target.subscriber_id,
            events.c.verified == sa.false(),
            events.c.occurred_at > now - UNVERIFIED_EVERY,
        )
    )
    if recent:
        return Applied(DUPLICATE, event.kind, target.subscriber_id)
    _insert_event(connection, event, target, now, verified=False)
    log.info(
        "%s for subscriber %s: unverified (no token or Message-ID of ours): recorded only",
        event.kind,
        target.subscriber_id,
    )
    due = event.kind in _PROBED_KINDS and _claim_probe(
        connection, config, target.subscriber_id, now
    )
    return Applied(UNVERIFIED, event.kind, target.subscriber_id, probe_due=due)


def _claim_probe(connection: Connection, config: Config, subscriber_id: int, now: datetime) -> bool:
    """Whether a probe is due (unverified hard bounces and complaints since the last probe
    reached `bounce_limit`, for a confirmed subscriber), claiming it if so."""
    if config.mail is None or not config.mail.bounce_address:
        return False
    row = connection.execute(
        sa.select(subscribers.c.status, subscribers.c.probe_sent_at).where(
            subscribers.c.id == subscriber_id
        )
    ).one()
    if row.status != SubscriberStatus.CONFIRMED:
        return False
    evidence = (
        sa.select(sa.func.count())
        .select_from(events)
        .where(
            events.c.subscriber_id == subscriber_id,
            events.c.verified == sa.false(),
            events.c.kind.in_(_PROBED_KINDS),
        )
    )
    if row.probe_sent_at is not None:
        evidence = evidence.where(events.c.occurred_at > row.probe_sent_at)
    if int(connection.scalar(evidence) or 0) < config.delivery.bounce_limit:
        return False
    last = subscribers.c.probe_sent_at
    claimed = connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id == subscriber_id,
            last.is_(None) if row.probe_sent_at is None else last == row.probe_sent_at,
        )
        .values(probe_sent_at=now)
    )
    return claimed.rowcount == 1


def release_probe(store: Store, subscriber_id: int) -> None:
    """Forget a probe that could not be sent, so the next evidence tries again."""
    with store.transaction() as connection:
        connection.execute(
            subscribers.update().where(subscribers.c.id == subscriber_id).values(probe_sent_at=None)
        )


def _bounce_at_once(connection: Connection, subscriber_id: int) -> None:
    """A probe bounced: the address is dead, whatever the count."""
    count_hard_bounces(connection, [subscriber_id], limit=0)


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
            events.c.verified == sa.true(),
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


def _unsubscribe_from_everything(connection: Connection, subscriber_id: int, now: datetime) -> None:
    connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id == subscriber_id,
            subscribers.c.status.in_([SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING]),
        )
        .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=now)
    )


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
