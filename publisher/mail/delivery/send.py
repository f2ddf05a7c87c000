"""The delivery ledger: each confirmed subscriber gets an edition once, across crashes and workers.

One row per (edition, subscriber) is written when delivery starts, so the recipient set is
frozen. Workers claim pending rows in batches with a lease (FOR UPDATE SKIP LOCKED on
PostgreSQL, the database write lock on SQLite) and record each row sent once the server
accepted its message. Records are committed in groups off the sending threads (`ledger`),
but a connection never starts a message while more than one earlier message of its own is
accepted and not yet committed: after `kill -9` at most two messages per connection of the
killed process go out twice (one accepted but unrecorded, one in flight). A power cut can add
what the database had acknowledged but not yet made durable: on SQLite (WAL with
`synchronous=NORMAL`) the last commits before the cut, each at most a group of recently
accepted messages; PostgreSQL with its default `synchronous_commit=on` adds nothing.

A server that fails (unreachable, dropping, closing, throttling) pauses the whole run and
spends no recipient's attempts; after `[delivery] outage_patience` the run stops with a
`ServerOutage`, every row still pending.

Here: the ledger's rows made (`start_delivery`) and counted, and a run (`send_edition`); the
run's `worker` wires together its `leases`, `senders`, `letters`, `outcomes` and `pauses`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.mail.delivery.ledger import editions_with_rows, remaining_rows, reopen_rows
from publisher.mail.delivery.pauses import ServerOutage
from publisher.mail.delivery.report import SendReport
from publisher.mail.delivery.worker import ProgressCallback, Worker
from publisher.mail.stored_editions import edition_by_id
from publisher.store.database import Store
from publisher.store.editions import ledger_counts
from publisher.store.schema import deliveries, editions, subscribers, subscriptions
from publisher.store.statuses import DeliveryStatus, SubscriberStatus

PAUSED = "paused by the subscriber"  # the `last_error` of a paused subscriber's row

__all__ = [
    "SendOptions",
    "SendReport",
    "ServerOutage",
    "editions_for_send",
    "editions_to_send",
    "send_edition",
    "start_delivery",
]


@dataclass(frozen=True, slots=True)
class SendOptions:
    """`force` sends a stale edition; the retry flags put uncertain or temporarily failed rows
    back in the queue first."""

    force: bool = False
    retry_uncertain: bool = False
    retry_failed: bool = False


def editions_to_send(store: Store, *, started_only: bool = False) -> list[int]:
    """Editions whose delivery has not finished, oldest first; with `started_only`, only
    those whose delivery began (an interrupted send)."""
    query = sa.select(editions.c.id).where(editions.c.delivered_at.is_(None))
    if started_only:
        query = query.where(editions.c.delivery_started_at.is_not(None))
    with store.transaction() as connection:
        found = connection.execute(query.order_by(editions.c.id)).scalars()
        return [int(edition_id) for edition_id in found]


def editions_for_send(store: Store, options: SendOptions = SendOptions()) -> list[int]:
    """What a `send` without an edition works on: every edition not delivered, plus, with a
    retry option, every edition holding uncertain or retryable rows, oldest first."""
    chosen = set(editions_to_send(store))
    if options.retry_uncertain:
        chosen.update(editions_with_rows(store, DeliveryStatus.UNCERTAIN))
    if options.retry_failed:
        chosen.update(editions_with_rows(store, DeliveryStatus.RETRYABLE))
    return sorted(chosen)


def start_delivery(store: Store, edition_id: int, now: datetime) -> int:
    """Freeze the recipient set: one pending row per confirmed subscriber of the digest.

    Runs once per edition (the edition row is locked); returns how many rows exist.
    """
    with store.transaction() as connection:
        row = connection.execute(
            sa.select(editions.c.digest, editions.c.delivery_started_at)
            .where(editions.c.id == edition_id)
            .with_for_update()
        ).first()
        if row is None:
            raise PublisherError(f"no edition with id {edition_id}")
        if row.delivery_started_at is None:
            # Subscribers paused when the edition was made get their row `skipped` at once.
            created = (
                sa.select(editions.c.created_at)
                .where(editions.c.id == edition_id)
                .scalar_subquery()
            )
            paused = subscribers.c.paused_until > created
            recipients = (
                sa.select(
                    sa.literal(edition_id),
                    subscribers.c.id,
                    subscribers.c.email,
                    subscribers.c.name,
                    sa.case((paused, DeliveryStatus.SKIPPED), else_=DeliveryStatus.PENDING),
                    sa.case((paused, PAUSED), else_=None),
                    sa.literal(0),
                )
                .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
                .where(
                    subscribers.c.status == SubscriberStatus.CONFIRMED,
                    subscriptions.c.digest == row.digest,
                )
            )
            connection.execute(
                deliveries.insert().from_select(
                    [
                        "edition_id",
                        "subscriber_id",
                        "email",
                        "name",
                        "status",
                        "last_error",
                        "attempts",
                    ],
                    recipients,
                )
            )
            connection.execute(
                editions.update().where(editions.c.id == edition_id).values(delivery_started_at=now)
            )
        froze_now = row.delivery_started_at is None
        total = sum(ledger_counts(connection, edition_id).values())
    if froze_now and store.engine.dialect.name == "postgresql":
        # The planner's statistics, before autovacuum gets to the new rows: without them the
        # workers' first minute of claims and lease looks ran on guesses (measured at a million).
        with store.transaction() as connection:
            connection.exec_driver_sql("ANALYZE deliveries")
    return total


def send_edition(
    store: Store,
    config: Config,
    edition_id: int,
    environ: Mapping[str, str],
    options: SendOptions = SendOptions(),
    clock: Clock = system_clock,
    sleep: Callable[[float], object] | None = None,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """Deliver one edition to every recipient still pending; safe to run again or in parallel.

    A run waits (for the server, the daily limit, a retry) with `sleep`; by default on `stop`,
    which also ends the run once set.
    """
    edition = edition_by_id(store, edition_id)
    report = SendReport(edition_id)
    if not options.force and clock() - edition.created_at > config.delivery.max_age:
        report.stale = True
        return report
    start_delivery(store, edition_id, clock())
    if options.retry_uncertain:
        reopen_rows(store, edition_id, DeliveryStatus.UNCERTAIN)
    if options.retry_failed:
        reopen_rows(store, edition_id, DeliveryStatus.RETRYABLE)
    stop = stop or threading.Event()
    wait = sleep or stop.wait
    Worker(store, config, edition, environ, clock, wait, report, progress, stop).run()
    report.remaining = remaining_rows(store, edition_id)
    with store.transaction() as connection:
        report.counts = ledger_counts(connection, edition_id)
        if not report.remaining.unfinished:
            connection.execute(
                editions.update()
                .where(editions.c.id == edition_id, editions.c.delivered_at.is_(None))
                .values(delivered_at=clock())
            )
    return report
