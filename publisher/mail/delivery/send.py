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
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.audience.links import digest_unsubscribe_url, preferences_url
from publisher.audience.preferences import skip_paused_recipients
from publisher.audience.tokens import load_secret
from publisher.clock import Clock, system_clock
from publisher.config import Config, parse_duration
from publisher.errors import PublisherError
from publisher.mail.delivery.ledger import (
    DELIVERY_STATUSES,
    FAILED,
    MAX_ERROR_LENGTH,
    PENDING,
    RETRYABLE,
    SENT,
    SKIPPED,
    UNCERTAIN,
    Claimed,
    LedgerWriter,
    Outcome,
    RemainingRows,
    claim_rows,
    editions_with_rows,
    messages_started_since,
    release_dead_leases,
    remaining_rows,
    reopen_rows,
    seconds_until_next_retry,
)
from publisher.mail.delivery.pacing import OutageBackoff, allowed_today, day_start, next_day_start
from publisher.mail.editions import Edition, edition_by_id
from publisher.mail.mime import PreparedEdition
from publisher.mail.render import Recipient
from publisher.mail.transport.opening import open_transport
from publisher.mail.transport.protocol import (
    DeliveryError,
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
    Transport,
    UncertainDelivery,
)
from publisher.mail.transport.ratelimit import RateLimiter
from publisher.mail.transport.returnpath import envelope_sender, mailto_token
from publisher.store.database import Store
from publisher.store.schema import deliveries, editions, subscribers, subscriptions
from publisher.store.subscribers import CONFIRMED

log = logging.getLogger(__name__)

__all__ = [
    "DELIVERY_STATUSES",
    "FAILED",
    "MAX_ERROR_LENGTH",
    "PENDING",
    "RETRYABLE",
    "SENT",
    "SKIPPED",
    "UNCERTAIN",
    "Claimed",
    "RemainingRows",
    "SendOptions",
    "SendReport",
    "ServerOutage",
    "delivery_counts",
    "editions_for_send",
    "editions_to_send",
    "editions_with_rows",
    "ledger_counts",
    "remaining_rows",
    "send_edition",
    "start_delivery",
]


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
    retryable: int = 0
    remaining: RemainingRows = field(default_factory=RemainingRows)

    def summary(self) -> str:
        """This run's results and the edition's whole ledger, then one line per kind of row
        that remains with the command that sends it."""
        if self.stale:
            return f"edition {self.edition_id}: too old to send (use --force to send anyway)"
        ledger = ", ".join(f"{self.counts.get(s, 0)} {s}" for s in DELIVERY_STATUSES)
        line = (
            f"edition {self.edition_id}: {self.sent} sent, {self.failed} failed, "
            f"{self.retryable} failed temporarily, {self.uncertain} uncertain, "
            f"{self.skipped} skipped this run; ledger: {ledger}"
        )
        hints = self.remaining.hints(self.edition_id)
        return "\n".join([line, *(f"  remaining: {hint}" for hint in hints)])


@dataclass(frozen=True, slots=True)
class SendOptions:
    """`force` sends a stale edition; the retry flags put uncertain or temporarily failed rows
    back in the queue first."""

    force: bool = False
    retry_uncertain: bool = False
    retry_failed: bool = False


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


def editions_for_send(store: Store, options: SendOptions = SendOptions()) -> list[int]:
    """What a `send` without an edition works on: every edition not delivered, plus, with a
    retry option, every edition holding uncertain or retryable rows, oldest first."""
    chosen = set(editions_to_send(store))
    if options.retry_uncertain:
        chosen.update(editions_with_rows(store, UNCERTAIN))
    if options.retry_failed:
        chosen.update(editions_with_rows(store, RETRYABLE))
    return sorted(chosen)


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


def recipient_for(
    base_url: str,
    secret: bytes,
    subscriber_id: int,
    nonce: str,
    name: str,
    email: str,
    digest: str,
) -> Recipient:
    """One subscriber as a message of `digest` shows them, with their links."""
    return Recipient(
        name=name,
        email=email,
        unsubscribe_url=digest_unsubscribe_url(base_url, secret, subscriber_id, nonce, digest),
        preferences_url=preferences_url(base_url, secret, subscriber_id, nonce),
    )


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
        reopen_rows(store, edition_id, UNCERTAIN)
    if options.retry_failed:
        reopen_rows(store, edition_id, RETRYABLE)
    worker = _Worker(store, config, edition, environ, clock, sleep, report, progress, stop)
    worker.run()
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


class ServerOutage(DeliveryError):
    """The mail server stayed unavailable for `[delivery] outage_patience`; rows stay pending."""


class _Connection:
    """One transport and the ledger tickets of its last two messages.

    A message starts only once the one two before it is committed, so at most one accepted
    message per connection is ever unrecorded while another is in flight.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.unrecorded: list[int] = []

    def wait_before_next(self, writer: LedgerWriter) -> None:
        while len(self.unrecorded) >= 2:
            writer.wait_until_written(self.unrecorded.pop(0))

    def recorded(self, ticket: int, writer: LedgerWriter) -> None:
        self.unrecorded.append(ticket)
        if len(self.unrecorded) >= 2:
            writer.hurry(self.unrecorded[0])  # the next message will wait for it


class _Pauses:
    """When a run must wait: for a mail server that is down, for the next day's allowance,
    for a row's next retry. A stop event cuts every wait short."""

    def __init__(
        self,
        store: Store,
        config: Config,
        edition_id: int,
        clock: Clock,
        sleep: Callable[[float], None],
        stop: threading.Event,
    ) -> None:
        self.store, self.config, self.edition_id = store, config, edition_id
        self.clock, self.sleep, self.stop = clock, sleep, stop
        smtp = config.mail.smtp if config.mail and config.mail.transport == "smtp" else None
        self.daily_limit = smtp.daily_limit if smtp else 0
        self.outage = OutageBackoff(parse_duration(config.delivery.outage_patience))

    def wait(self, seconds: float) -> None:
        """Sleep, or wait on the stop event when the sleep is the real one (the daemon)."""
        if self.sleep is time.sleep:
            self.stop.wait(seconds)
        else:
            self.sleep(seconds)

    def batch_size_allowed_today(self) -> int:
        """Rows the next claim may take under `daily_limit`: 0 means wait for tomorrow."""
        now = self.clock()
        used = 0
        if self.daily_limit:
            since = day_start(now, self.config.site.zone)
            used = messages_started_since(self.store, since, now)
        allowed = allowed_today(self.daily_limit, used)
        batch_size = self.config.delivery.batch_size
        return batch_size if allowed is None else min(batch_size, allowed)

    def wait_for_next_day(self) -> None:
        """Wait until midnight in the site's zone."""
        now = self.clock()
        resume = next_day_start(now, self.config.site.zone)
        log.warning(
            "edition %s: mail.smtp.daily_limit (%s) reached; waiting until %s",
            self.edition_id,
            self.daily_limit,
            resume.isoformat(),
        )
        self.wait(max(1.0, (resume - now).total_seconds()))

    def wait_for_server(self, error: ServerUnavailable) -> None:
        """Back off before trying the server again; ServerOutage once patience is spent."""
        now = self.clock()
        wait = self.outage.next_wait(now)
        if wait is None:
            raise ServerOutage(
                f"edition {self.edition_id}: the mail server has been unavailable for "
                f"{self.outage.waited_for(now)} (delivery.outage_patience is "
                f"{self.config.delivery.outage_patience}): {error}; every unsent row is still "
                f"pending: run `publisher send {self.edition_id}` once the server is back"
            )
        if wait:
            log.warning("mail server unavailable (%s); trying again in %.0fs", error, wait)
            self.wait(wait)


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
        self.environ, self.clock = environ, clock
        self.report, self.progress = report, progress
        self.stop = stop or threading.Event()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self.lease = parse_duration(config.delivery.lease)
        self.secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)
        digest = config.digest(edition.digest)
        self.prepared = PreparedEdition(
            config, digest, edition.id, edition.created_at, edition.rendered
        )
        smtp = config.mail.smtp if config.mail and config.mail.transport == "smtp" else None
        self.connections = smtp.connections if smtp else 1
        self.limiter = RateLimiter(smtp.rate_limit if smtp else 0.0)
        self.pauses = _Pauses(store, config, edition.id, clock, sleep, self.stop)
        self.server_error: ServerUnavailable | None = None
        self.lock = threading.Lock()

    def run(self) -> None:
        connections = [
            _Connection(open_transport(self.config, self.environ)) for _ in range(self.connections)
        ]
        writer = LedgerWriter(self.store, self.config.delivery.bounce_limit)
        try:
            self._run(connections, writer)
        finally:
            for connection in connections:
                connection.transport.close()
            writer.close()

    def _run(self, connections: list[_Connection], writer: LedgerWriter) -> None:
        while not self.stop.is_set():
            release_dead_leases(self.store, self.edition.id, socket.gethostname())
            limit = self.pauses.batch_size_allowed_today()
            if limit == 0:
                self.pauses.wait_for_next_day()
                continue
            batch = claim_rows(
                self.store, self.edition.id, self.owner, self.clock(), self.lease, limit
            )
            if batch:
                self._send_batch(batch, connections, writer)
                writer.flush()
                if self.server_error is not None:
                    error, self.server_error = self.server_error, None
                    self.pauses.wait_for_server(error)
                if self.progress:
                    self.progress(self.report)
                continue
            wait = seconds_until_next_retry(self.store, self.edition.id, self.clock())
            if wait is None:
                return
            self.pauses.wait(wait)

    def _send_batch(
        self, batch: list[Claimed], connections: list[_Connection], writer: LedgerWriter
    ) -> None:
        work: queue.SimpleQueue[Claimed] = queue.SimpleQueue()
        for claimed in batch:
            work.put(claimed)
        errors: list[BaseException] = []

        def drain(connection: _Connection) -> None:
            try:
                while self.server_error is None and not errors:
                    try:
                        claimed = work.get_nowait()
                    except queue.Empty:
                        return
                    connection.wait_before_next(writer)
                    self._deliver(claimed, connection, writer)
            except BaseException as error:  # re-raised in the calling thread
                errors.append(error)

        if len(connections) == 1:
            drain(connections[0])
        else:
            threads = [threading.Thread(target=drain, args=(c,), daemon=True) for c in connections]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        while not work.empty():  # left over by an outage or an error: back in the queue
            self._release(work.get_nowait(), writer)
        if errors:
            writer.flush()
            raise errors[0]

    def _deliver(self, claimed: Claimed, connection: _Connection, writer: LedgerWriter) -> None:
        if claimed.subscriber_status != CONFIRMED:
            reason = f"subscriber is {claimed.subscriber_status}"
            writer.record(self._outcome(claimed, SKIPPED, reason))
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
            writer.record(self._outcome(claimed, FAILED, str(error)))
            return
        self.limiter.wait()
        try:
            sender = envelope_sender(self.config, self.secret, claimed.id) or envelope.sender
            connection.transport.send(sender, envelope.recipient, message)
        except ServerUnavailable as error:
            self.server_error = error
            self._release(claimed, writer)
            return
        except TemporaryFailure as error:
            outcome = self._retry_later(claimed, error)
        except PermanentFailure as error:
            outcome = self._outcome(claimed, FAILED, str(error), bounce=True, code=error.code)
        except UncertainDelivery as error:
            outcome = self._outcome(claimed, UNCERTAIN, str(error))
        except BaseException:
            self._release(claimed, writer)
            raise
        else:
            outcome = self._outcome(claimed, SENT, None)
        self.pauses.outage.server_answered()
        connection.recorded(writer.record(outcome), writer)

    def _outcome(
        self,
        claimed: Claimed,
        status: str,
        error: str | None,
        *,
        bounce: bool = False,
        code: int | None = None,
    ) -> Outcome:
        counter = {SENT: "sent", FAILED: "failed", UNCERTAIN: "uncertain", SKIPPED: "skipped"}
        counter[RETRYABLE] = "retryable"
        with self.lock:
            name = counter[status]
            setattr(self.report, name, getattr(self.report, name) + 1)
        if error and status != SKIPPED:
            log.warning("edition %s to %s: %s: %s", self.edition.id, claimed.email, status, error)
        return Outcome(claimed, status, self.clock(), error, bounce=bounce, code=code)

    def _retry_later(self, claimed: Claimed, error: TemporaryFailure) -> Outcome:
        attempts = claimed.attempts + 1
        if attempts >= self.config.delivery.max_attempts:
            return self._outcome(claimed, RETRYABLE, f"gave up after {attempts} attempts: {error}")
        delay = self.config.delivery.retry_backoff * 2 ** (attempts - 1)
        with self.lock:
            self.report.retried += 1
        now = self.clock()
        return Outcome(
            claimed,
            PENDING,
            now,
            str(error),
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
        )

    def _release(self, claimed: Claimed, writer: LedgerWriter) -> None:
        writer.record(Outcome(claimed, PENDING, self.clock()))
