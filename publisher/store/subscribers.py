"""Subscribers in the store: their statuses, and the hard bounces that end a subscription."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from publisher.store.schema import subscribers
from publisher.store.statuses import SubscriberStatus

# Subscribers and deliveries ---------------------------------------------------------------


def count_hard_bounces(connection: Connection, subscriber_ids: Sequence[int], limit: int) -> None:
    """Count one hard bounce for each id (an id listed twice counts twice); a confirmed
    subscriber whose count reaches `limit` becomes bounced."""
    for subscriber_id in subscriber_ids:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(hard_bounces=subscribers.c.hard_bounces + 1)
        )
    connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id.in_(subscriber_ids),
            subscribers.c.hard_bounces >= limit,
            subscribers.c.status == SubscriberStatus.CONFIRMED,
        )
        .values(status=SubscriberStatus.BOUNCED)
    )
