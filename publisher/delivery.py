"""The delivery ledger: each confirmed subscriber gets an edition once, across crashes and workers.

One row per (edition, subscriber) is written when delivery starts, so the recipient set is
frozen. Workers claim pending rows in batches with a lease (FOR UPDATE SKIP LOCKED on
PostgreSQL, the database write lock on SQLite) and mark each row sent right after the server
accepts its message. After a crash the only messages that can go out twice are those in
flight at that moment: at most one per connection.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.config import Config, parse_duration
from publisher.editions import Edition, edition_by_id
from publisher.errors import PublisherError
from publisher.gather import Clock, system_clock
from publisher.links import recipient_for
from publisher.messages import PreparedEdition
from publisher.preferences import skip_paused_recipients
from publisher.returnpath import envelope_sender, mailto_token
from publisher.store import (
    BOUNCED,
    CONFIRMED,
    Store,
    deliveries,
    editions,
    subscribers,
    subscriptions,
)
from publisher.tokens import load_secret
from publisher.transports import (
    PermanentFailure,
    RateLimiter,
    TemporaryFailure,
    Transport,
    UncertainDelivery,
    open_transport,
)

log = logging.getLogger(__name__)

PENDING, SENT, FAILED, UNCERTAIN, SKIPPED = "pending", "sent", "failed", "uncertain", "skipped"
DELIVERY_STATUSES = (PENDING, SENT, FAILED, UNCERTAIN, SKIPPED)
MAX_ERROR_LENGTH = 500


class StaleEditionError(PublisherError):
    """An edition is older than `[delivery] max_age` and was not forced."""


@dataclass(slots=True)
class SendReport:
    """What one `send` of one edition did."""

    edition_id: int
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    retried: int = 0
    stale: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: this run's results, then the edition's whole ledger."""
        if self.stale:
            return f"edition {self.edition_id}: too old to send (use --force to send anyway)"
        ledger = ", ".join(f"{self.counts.get(s, 0)} {s}" for s in DELIVERY_STATUSES)
        return (
            f"edition {self.edition_id}: {self.sent} sent, {self.failed} failed, "
            f"{self.uncertain} uncertain, {self.skipped} skipped this run; ledger: {ledger}"
        )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery row leased to this worker, with what its message needs."""

    id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int
    token_nonce: str
    subscriber_status: str


@dataclass(frozen=True, slots=True)
class SendOptions:
    force: bool = False
    retry_uncertain: bool = False


ProgressCallback = Callable[[SendReport], None]


def editions_to_send(store: Store, *, started_only: bool = False) -> list[int]:
    """Editions whose delivery has not finished, oldest first; with `started_only`, only
    those whose delivery began (an interrupted send)."""
    query = sa.select(editions.c.id).where(editions.c.delivered_at.is_(None))
    if started_only:
        query = query.where(editions.c.delivery_started_at.is_not(None))
    with store.transaction() as connection:
        found = connection.execute(query.order_by(editions.c.id)).scalars()
        return [int(edition_id) for edition_id in found]


def ledger_counts(connection: Connection, edition_id: int) -> dict[str, int]:
    """How many of an edition's deliveries are in each status."""
    rows = connection.execute(
        sa.select(deliveries.c.status, sa.func.count())
        .where(deliveries.c.edition_id == edition_id)
        .group_by(deliveries.c.status)
    )
    return {status: int(count) for status, count in rows}


def delivery_counts(store: Store) -> dict[int, dict[str, int]]:
    """Every edition's ledger counts by status (editions with no ledger yet are absent)."""
    with store.transaction() as connection:
        rows = connection.execute(
            sa.select(deliveries.c.edition_id, deliveries.c.status, sa.func.count()).group_by(
                deliveries.c.edition_id, deliveries.c.status
            )
        )
        counts: dict[int, dict[str, int]] = {}
        for edition_id, status, count in rows:
            counts.setdefault(int(edition_id), {})[status] = int(count)
        return counts


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
            recipients = (
                sa.select(
                    sa.literal(edition_id),
                    subscribers.c.id,
                    subscribers.c.email,
                    subscribers.c.name,
                    sa.literal(PENDING),
                    sa.literal(0),
                )
                .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
                .where(subscribers.c.status == CONFIRMED, subscriptions.c.digest == row.digest)
            )
            connection.execute(
                deliveries.insert().from_select(
                    ["edition_id", "subscriber_id", "email", "name", "status", "attempts"],
                    recipients,
                )
            )
            skip_paused_recipients(connection, edition_id)
            connection.execute(
                editions.update().where(editions.c.id == edition_id).values(delivery_started_at=now)
            )
        return sum(ledger_counts(connection, edition_id).values())


def send_edition(
    store: Store,
    config: Config,
    edition_id: int,
    environ: Mapping[str, str],
    options: SendOptions = SendOptions(),
    clock: Clock = system_clock,
    sleep: Callable[[float], None] = time.sleep,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    """Deliver one edition to every recipient still pending; safe to run again or in parallel."""
    edition = edition_by_id(store, edition_id)
    report = SendReport(edition_id)
    if not options.force and clock() - edition.created_at > parse_duration(config.delivery.max_age):
        report.stale = True
        return report
    start_delivery(store, edition_id, clock())
    if options.retry_uncertain:
        _reopen_uncertain(store, edition_id)
    worker = _Worker(store, config, edition, environ, clock, sleep, report, progress, stop)
    worker.run()
    with store.transaction() as connection:
        report.counts = ledger_counts(connection, edition_id)
        if report.counts.get(PENDING, 0) == 0:
            connection.execute(
                editions.update()
                .where(editions.c.id == edition_id, editions.c.delivered_at.is_(None))
                .values(delivered_at=clock())
            )
    return report


def _reopen_uncertain(store: Store, edition_id: int) -> None:
    """Put uncertain rows back in the queue; they go out with the same Message-ID."""
    with store.transaction() as connection:
        connection.execute(
            deliveries.update()
            .where(deliveries.c.edition_id == edition_id, deliveries.c.status == UNCERTAIN)
            .values(status=PENDING, next_attempt_at=None, lease_owner=None, lease_until=None)
        )


class _Worker:
    """One `send` process's share of an edition: claim, send, record, until nothing is left."""

    def __init__(
        self,
        store: Store,
        config: Config,
        edition: Edition,
        environ: Mapping[str, str],
        clock: Clock,
        sleep: Callable[[float], None],
        report: SendReport,
        progress: ProgressCallback | None,
        stop: threading.Event | None,
    ) -> None:
        self.store, self.config, self.edition = store, config, edition
        self.environ, self.clock, self.sleep = environ, clock, sleep
        self.report, self.progress = report, progress
        self.stop = stop or threading.Event()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = parse_duration(config.delivery.lease)
        self.secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)
        digest = config.digest(edition.digest)
        self.prepared = PreparedEdition(
            config, digest, edition.id, edition.created_at, edition.rendered
        )
        smtp = config.mail.smtp if config.mail and config.mail.transport == "smtp" else None
        self.connections = smtp.connections if smtp else 1
        self.limiter = RateLimiter(smtp.rate_limit if smtp else 0.0)
        self.lock = threading.Lock()

    def run(self) -> None:
        transports = [open_transport(self.config, self.environ) for _ in range(self.connections)]
        try:
            while not self.stop.is_set():
                self._release_dead_leases()
                batch = self._claim()
                if batch:
                    self._send_batch(batch, transports)
                    if self.progress:
                        self.progress(self.report)
                    continue
                wait = self._seconds_until_next_retry()
                if wait is None:
                    return
                self.sleep(wait)
        finally:
            for transport in transports:
                transport.close()

    def _claim(self) -> list[Claimed]:
        now = self.clock()
        with self.store.transaction() as connection:
            query = (
                sa.select(
                    deliveries.c.id,
                    deliveries.c.subscriber_id,
                    deliveries.c.email,
                    deliveries.c.name,
                    deliveries.c.attempts,
                    subscribers.c.token_nonce,
                    subscribers.c.status.label("subscriber_status"),
                )
                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                .where(
                    deliveries.c.edition_id == self.edition.id,
                    deliveries.c.status == PENDING,
                    sa.or_(
                        deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now
                    ),
                    sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
                )
                .order_by(deliveries.c.id)
                .limit(self.config.delivery.batch_size)
                .with_for_update(skip_locked=True, of=deliveries)
            )
            batch = [Claimed(**row._mapping) for row in connection.execute(query)]
            if batch:
                connection.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_([claimed.id for claimed in batch]))
                    .values(lease_owner=self.owner, lease_until=now + self.lease)
                )
        return batch

    def _send_batch(self, batch: list[Claimed], transports: list[Transport]) -> None:
        if len(transports) == 1:
            for claimed in batch:
                self._deliver(claimed, transports[0])
            return
        work: queue.SimpleQueue[Claimed] = queue.SimpleQueue()
        for claimed in batch:
            work.put(claimed)
        errors: list[BaseException] = []

        def drain(transport: Transport) -> None:
            try:
                while True:
                    try:
                        claimed = work.get_nowait()
                    except queue.Empty:
                        return
                    self._deliver(claimed, transport)
            except BaseException as error:  # re-raised in the calling thread
                errors.append(error)

        threads = [threading.Thread(target=drain, args=(t,), daemon=True) for t in transports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _deliver(self, claimed: Claimed, transport: Transport) -> None:
        if claimed.subscriber_status != CONFIRMED:
            self._finish(claimed, SKIPPED, f"subscriber is {claimed.subscriber_status}")
            return
        try:
            recipient = recipient_for(
                self.config.web_base_url,
                self.secret,
                claimed.subscriber_id,
                claimed.token_nonce,
                claimed.name,
                claimed.email,
                self.edition.digest,
            )
            envelope, message = self.prepared.message_for(
                claimed.subscriber_id, recipient, mailto_token(self.config, self.secret, claimed.id)
            )
        except PublisherError as error:
            self._finish(claimed, FAILED, str(error))
            return
        self.limiter.wait()
        try:
            sender = envelope_sender(self.config, self.secret, claimed.id) or envelope.sender
            transport.send(sender, envelope.recipient, message)
        except TemporaryFailure as error:
            self._retry_later(claimed, error)
        except PermanentFailure as error:
            self._finish(claimed, FAILED, str(error))
            self._count_bounce(claimed.subscriber_id)
        except UncertainDelivery as error:
            self._finish(claimed, UNCERTAIN, str(error))
        except BaseException:
            self._release(claimed)
            raise
        else:
            self._finish(claimed, SENT, None)

    def _finish(self, claimed: Claimed, status: str, error: str | None) -> None:
        now = self.clock()
        values: dict[str, Any] = {
            "status": status,
            "attempts": claimed.attempts + (status != SKIPPED),
            "last_error": error[:MAX_ERROR_LENGTH] if error else None,
            "lease_owner": None,
            "lease_until": None,
        }
        if status == SENT:
            values["sent_at"] = now
        with self.store.transaction() as connection:
            connection.execute(
                deliveries.update().where(deliveries.c.id == claimed.id).values(**values)
            )
        with self.lock:
            counter = {SENT: "sent", FAILED: "failed", UNCERTAIN: "uncertain", SKIPPED: "skipped"}
            name = counter[status]
            setattr(self.report, name, getattr(self.report, name) + 1)
        if error and status != SKIPPED:
            log.warning("edition %s to %s: %s: %s", self.edition.id, claimed.email, status, error)

    def _retry_later(self, claimed: Claimed, error: TemporaryFailure) -> None:
        attempts = claimed.attempts + 1
        if attempts >= self.config.delivery.max_attempts:
            self._finish(claimed, FAILED, f"gave up after {attempts} attempts: {error}")
            return
        delay = self.config.delivery.retry_backoff * 2 ** (attempts - 1)
        with self.store.transaction() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id == claimed.id)
                .values(
                    attempts=attempts,
                    last_error=str(error)[:MAX_ERROR_LENGTH],
                    next_attempt_at=self.clock() + timedelta(seconds=delay),
                    lease_owner=None,
                    lease_until=None,
                )
            )
        with self.lock:
            self.report.retried += 1

    def _release(self, claimed: Claimed) -> None:
        with self.store.transaction() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id == claimed.id, deliveries.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    def _count_bounce(self, subscriber_id: int) -> None:
        with self.store.transaction() as connection:
            connection.execute(
                subscribers.update()
                .where(subscribers.c.id == subscriber_id)
                .values(hard_bounces=subscribers.c.hard_bounces + 1)
            )
            connection.execute(
                subscribers.update()
                .where(
                    subscribers.c.id == subscriber_id,
                    subscribers.c.hard_bounces >= self.config.delivery.bounce_limit,
                    subscribers.c.status == CONFIRMED,
                )
                .values(status=BOUNCED)
            )

    def _release_dead_leases(self) -> None:
        """Free rows leased by a process of this host that has died (a kill -9, a crash)."""
        host = socket.gethostname()
        with self.store.transaction() as connection:
            owners = connection.execute(
                sa.select(deliveries.c.lease_owner)
                .where(
                    deliveries.c.edition_id == self.edition.id,
                    deliveries.c.status == PENDING,
                    deliveries.c.lease_owner.is_not(None),
                )
                .distinct()
            ).scalars()
            dead = [owner for owner in owners if _is_dead_local_owner(owner, host)]
            if dead:
                connection.execute(
                    deliveries.update()
                    .where(deliveries.c.lease_owner.in_(dead))
                    .values(lease_owner=None, lease_until=None)
                )
                log.info("released rows leased by %s", ", ".join(dead))

    def _seconds_until_next_retry(self) -> float | None:
        """How long until a pending row of ours can be tried again; None when none is waiting."""
        now = self.clock()
        with self.store.transaction() as connection:
            earliest: datetime | None = connection.scalar(
                sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
                    deliveries.c.edition_id == self.edition.id,
                    deliveries.c.status == PENDING,
                    deliveries.c.lease_owner.is_(None),
                    deliveries.c.next_attempt_at > now,
                )
            )
        if earliest is None:
            return None
        return max(0.0, (earliest - now).total_seconds())


def _is_dead_local_owner(owner: str, host: str) -> bool:
    """Whether a lease owner (`host:pid:tag`) is a process of this host that no longer runs."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
