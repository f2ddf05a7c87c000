"""What an operator does to a subscriber from the dashboard or the API, each action logged as
an event naming the operator: unsubscribe, forget, change digests, resend the confirmation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from publisher.audience.forgetting import forget_subscriber
from publisher.audience.subscribers import (
    Subscriber,
    SubscriberError,
    check_digests,
    subscriber_by_id,
    unsubscribe_subscriber,
)
from publisher.store.database import Store
from publisher.store.events import insert_operator_event
from publisher.store.schema import subscribers, subscriptions
from publisher.store.statuses import EventKind, SubscriberStatus

UNSUBSCRIBE, FORGET, DIGESTS, RESEND = "unsubscribe", "forget", "digests", "resend_confirmation"


def _log(store: Store, subscriber_id: int, kind: str, code: str, who: str, now: datetime) -> None:
    with store.transaction() as connection:
        insert_operator_event(connection, subscriber_id, kind, code, who, now)


def _existing(store: Store, subscriber_id: int) -> Subscriber:
    found = subscriber_by_id(store, subscriber_id)
    if found is None or found.status == SubscriberStatus.FORGOTTEN:
        raise SubscriberError(f"no subscriber with id {subscriber_id}")
    return found


def unsubscribe_by_operator(
    store: Store, subscriber_id: int, who: str, now: datetime
) -> Subscriber:
    """Unsubscribe from every digest, as `who`."""
    _existing(store, subscriber_id)
    done = unsubscribe_subscriber(store, subscriber_id, now)
    assert done is not None
    _log(store, subscriber_id, EventKind.UNSUBSCRIBE, UNSUBSCRIBE, who, now)
    return done


def forget_by_operator(
    store: Store, secret: bytes, subscriber_id: int, who: str, now: datetime
) -> None:
    """Erase the subscriber's personal data on their request, as `who`."""
    _existing(store, subscriber_id)
    forget_subscriber(store, secret, subscriber_id, now)
    _log(store, subscriber_id, EventKind.ADMIN_ACTION, FORGET, who, now)


def change_digests_by_operator(
    store: Store,
    subscriber_id: int,
    digests: Sequence[str],
    known: Sequence[str],
    who: str,
    now: datetime,
) -> Subscriber:
    """Set the digests a subscriber receives (at least one), as `who`."""
    subscriber = _existing(store, subscriber_id)
    if not [name for name in digests if name.strip()]:
        raise SubscriberError("choose at least one digest (or unsubscribe instead)")
    chosen = check_digests(digests, known)
    with store.transaction() as connection:
        connection.execute(
            subscriptions.delete().where(subscriptions.c.subscriber_id == subscriber.id)
        )
        connection.execute(
            subscriptions.insert(),
            [{"subscriber_id": subscriber.id, "digest": digest} for digest in chosen],
        )
        insert_operator_event(
            connection,
            subscriber.id,
            EventKind.ADMIN_ACTION,
            DIGESTS,
            f"{who}: {' '.join(chosen)}",
            now,
        )
    changed = subscriber_by_id(store, subscriber.id)
    assert changed is not None
    return changed


def claim_confirmation_resend(
    store: Store, subscriber_id: int, who: str, now: datetime
) -> Subscriber:
    """Note that a pending subscriber's confirmation goes out again now, as `who`; the caller
    mails it. SubscriberError unless the subscriber is pending."""
    subscriber = _existing(store, subscriber_id)
    if subscriber.status != SubscriberStatus.PENDING:
        raise SubscriberError(f"subscriber {subscriber_id} is {subscriber.status}, not pending")
    with store.transaction() as connection:
        connection.execute(
            sa.update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .values(confirmation_sent_at=now)
        )
        insert_operator_event(connection, subscriber_id, EventKind.ADMIN_ACTION, RESEND, who, now)
    return subscriber
