"""What a subscriber changes for themselves: digests, name, a pause, their address.

The shell behind the preferences page, the per-digest unsubscribe link and the welcome: each
function is one transaction on the store. A subscriber left with no digest is `unsubscribed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.audience.subscribers import (
    Subscriber,
    SubscriberError,
    check_address,
    subscriber_by_id,
)
from publisher.audience.tokens import new_nonce
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.store.database import Store
from publisher.store.events import insert_web_unsubscribe
from publisher.store.schema import editions, subscribers, subscriptions
from publisher.store.statuses import SubscriberStatus
from publisher.urls import archive_url

# The ledger's status for a row that is not sent (delivery.SKIPPED; delivery imports this).
MAX_PAUSE = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Preferences:
    """A subscriber with what only their preferences page shows."""

    subscriber: Subscriber
    paused_until: datetime | None
    pending_email: str | None


def preferences_of(store: Store, subscriber_id: int) -> Preferences | None:
    """The subscriber's preferences, or None if there is no such subscriber."""
    subscriber = subscriber_by_id(store, subscriber_id)
    if subscriber is None:
        return None
    with store.transaction() as connection:
        row = connection.execute(
            sa.select(subscribers.c.paused_until, subscribers.c.pending_email).where(
                subscribers.c.id == subscriber_id
            )
        ).one()
    return Preferences(subscriber, row.paused_until, row.pending_email)


def leave_digest(store: Store, subscriber_id: int, digest: str, now: datetime) -> Subscriber | None:
    """Stop one digest; with none left the subscriber is unsubscribed. Idempotent."""
    with store.transaction() as connection:
        left = connection.execute(
            subscriptions.delete().where(
                subscriptions.c.subscriber_id == subscriber_id, subscriptions.c.digest == digest
            )
        )
        if left.rowcount:
            insert_web_unsubscribe(connection, subscriber_id, digest, now)
        _unsubscribe_if_no_digest(connection, subscriber_id, now)
    return subscriber_by_id(store, subscriber_id)


def save_preferences(
    store: Store,
    subscriber_id: int,
    digests: Sequence[str],
    name: str,
    paused_until: datetime | None,
    now: datetime,
) -> Subscriber | None:
    """Set the digests, name and pause; no digest left unsubscribes, digests chosen again
    by an unsubscribed subscriber (from their own link) subscribe them again."""
    with store.transaction() as connection:
        status = connection.scalar(
            sa.select(subscribers.c.status).where(subscribers.c.id == subscriber_id)
        )
        if status is None:
            return None
        connection.execute(
            subscriptions.delete().where(subscriptions.c.subscriber_id == subscriber_id)
        )
        if digests:
            connection.execute(
                subscriptions.insert(),
                [{"subscriber_id": subscriber_id, "digest": digest} for digest in digests],
            )
        values: dict[str, object] = {"name": name, "paused_until": paused_until}
        if digests and status == SubscriberStatus.UNSUBSCRIBED:
            values |= {
                "status": SubscriberStatus.CONFIRMED,
                "unsubscribed_at": None,
                "confirmed_at": now,
            }
        connection.execute(
            subscribers.update().where(subscribers.c.id == subscriber_id).values(**values)
        )
        if _unsubscribe_if_no_digest(connection, subscriber_id, now):
            insert_web_unsubscribe(connection, subscriber_id, None, now)
    return subscriber_by_id(store, subscriber_id)


def pause_end(day: date, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When a pause "until `day`" ends: that day's start in the site's zone; None if passed.

    SubscriberError for a day more than a year ahead.
    """
    end = datetime.combine(day, time(0), zone)
    if end <= now:
        return None
    if end - now > MAX_PAUSE:
        raise SubscriberError(f"a pause may last at most {MAX_PAUSE.days} days")
    return end


def request_address_change(store: Store, subscriber_id: int, new_email: str) -> str:
    """Remember the address a subscriber asked to move to; returns it normalized.

    It takes effect only when confirmed from that address (`confirm_address_change`).
    """
    address = check_address(new_email)
    with store.transaction() as connection:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(pending_email=address.email)
        )
    return address.email


def confirm_address_change(store: Store, subscriber_id: int, new_email: str) -> Subscriber:
    """Move the subscriber to `new_email`, if it is still the change they asked for.

    SubscriberError when another subscriber has the address, or no such change is waiting.
    """
    address = check_address(new_email)
    with store.transaction() as connection:
        pending = connection.scalar(
            sa.select(subscribers.c.pending_email).where(subscribers.c.id == subscriber_id)
        )
        if pending is None or pending.casefold() != address.key:
            raise SubscriberError(f"no change of address to {address.email} is waiting")
        taken = connection.scalar(
            sa.select(subscribers.c.id).where(
                subscribers.c.email_key == address.key, subscribers.c.id != subscriber_id
            )
        )
        if taken is not None:
            raise SubscriberError(f"{address.email} already receives our newsletters")
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(
                email=address.email,
                email_key=address.key,
                pending_email=None,
                # Links mailed to the old address stop working: it may belong to someone else.
                token_nonce=new_nonce(),
            )
        )
    found = subscriber_by_id(store, subscriber_id)
    if found is None:
        raise PublisherError(f"subscriber {subscriber_id} vanished")
    return found


def claim_once(store: Store, subscriber_id: int, column: str, now: datetime) -> bool:
    """Record that a once-only mail (`welcome_sent_at`) goes out now; False if it already did."""
    target = subscribers.c[column]
    with store.transaction() as connection:
        result = connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id, target.is_(None))
            .values({column: now})
        )
    return result.rowcount == 1


def claim_at_most_every(
    store: Store, subscriber_id: int, column: str, now: datetime, interval: timedelta
) -> bool:
    """Record that a mail goes out now unless one went out less than `interval` ago."""
    target = subscribers.c[column]
    with store.transaction() as connection:
        result = connection.execute(
            subscribers.update()
            .where(
                subscribers.c.id == subscriber_id,
                sa.or_(target.is_(None), target <= now - interval),
            )
            .values({column: now})
        )
    return result.rowcount == 1


def release_claim(store: Store, subscriber_id: int, column: str) -> None:
    """Forget a claimed mail that could not be sent, so it may be tried again."""
    with store.transaction() as connection:
        connection.execute(
            subscribers.update().where(subscribers.c.id == subscriber_id).values({column: None})
        )


def _unsubscribe_if_no_digest(connection: Connection, subscriber_id: int, now: datetime) -> bool:
    """Unsubscribe a subscriber left with no digest; whether that changed their status."""
    remaining = sa.select(subscriptions.c.digest).where(
        subscriptions.c.subscriber_id == subscriber_id
    )
    changed = connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id == subscriber_id,
            subscribers.c.status != SubscriberStatus.UNSUBSCRIBED,
            ~sa.exists(remaining),
        )
        .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=now)
    )
    return bool(changed.rowcount)


def latest_edition_urls(store: Store, config: Config) -> dict[str, str]:
    """Each digest's latest edition's archive page, by digest name."""
    query = sa.select(editions.c.digest, sa.func.max(editions.c.number)).group_by(editions.c.digest)
    with store.transaction() as connection:
        rows = connection.execute(query).all()
    return {str(digest): archive_url(config, str(digest), int(number)) for digest, number in rows}
