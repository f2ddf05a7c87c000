"""One `send` process's share of an edition: claim rows, send their messages, record what
became of each, until nothing is left. The worker only wires together the leases, the
senders, the letters, the outcomes and the pauses."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from publisher.clock import Clock
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.mail.delivery.leases import Leases
from publisher.mail.delivery.ledger import Claimed, LedgerWriter, Outcome, seconds_until_next_retry
from publisher.mail.delivery.letters import Letters
from publisher.mail.delivery.outcomes import (
    RetryPolicy,
    RowFailure,
    released,
    sent_or_failed,
    skipped,
    unbuildable,
)
from publisher.mail.delivery.pauses import Pauses, Wait
from publisher.mail.delivery.rejections import Held, Refusals, server_refuses_everyone
from publisher.mail.delivery.report import SendReport
from publisher.mail.delivery.senders import Sender, send_in_parallel
from publisher.mail.stored_editions import Edition
from publisher.mail.transport.opening import open_transport
from publisher.mail.transport.protocol import (
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
    UncertainDelivery,
)
from publisher.mail.transport.ratelimit import RateLimiter
from publisher.store.database import Store
from publisher.store.statuses import DeliveryStatus, SubscriberStatus

log = logging.getLogger(__name__)

ProgressCallback = Callable[[SendReport], None]


class Worker:
    """Sends one edition's pending rows from this process, on `[mail.smtp] connections`."""

    def __init__(
        self,
        store: Store,
        config: Config,
        edition: Edition,
        environ: Mapping[str, str],
        clock: Clock,
        wait: Wait,
        report: SendReport,
        progress: ProgressCallback | None,
        stop: threading.Event,
    ) -> None:
        self.store, self.config, self.edition = store, config, edition
        self.environ, self.clock = environ, clock
        self.report, self.progress, self.stop = report, progress, stop
        self.leases = Leases(store, config, edition.id, clock)
        self.letters = Letters(config, edition, environ, clock)
        self.retry = RetryPolicy(config.delivery.max_attempts, config.delivery.retry_backoff)
        smtp = config.mail.smtp if config.mail and config.mail.transport == "smtp" else None
        self.connections = smtp.connections if smtp else 1
        self.limiter = RateLimiter(smtp.rate_limit if smtp else 0.0)
        self.pauses = Pauses(store, config, edition.id, clock, wait)
        self.server_error: ServerUnavailable | None = None
        self.refusals = Refusals()
        self.lock = threading.Lock()

    def run(self) -> None:
        """Send until every row is done or waits for a retry that a later run will make."""
        senders = [
            Sender(open_transport(self.config, self.environ)) for _ in range(self.connections)
        ]
        writer = LedgerWriter(self.store, self.config.delivery.bounce_limit)
        try:
            self._claim_and_send(senders, writer)
        finally:
            for sender in senders:
                sender.transport.close()
            writer.close()

    def _claim_and_send(self, senders: list[Sender], writer: LedgerWriter) -> None:
        while not self.stop.is_set():
            self.leases.release_dead()
            limit = self.pauses.batch_size_allowed_today()
            if limit == 0:
                self.pauses.wait_for_next_day()
                continue
            batch = self.leases.claim(limit)
            if batch:
                self._send_batch(batch, senders, writer)
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
        self, batch: list[Claimed], senders: list[Sender], writer: LedgerWriter
    ) -> None:
        def deliver(claimed: Claimed, sender: Sender) -> None:
            sender.wait_before_next(writer)
            self._deliver(claimed, sender, writer)

        left, error = send_in_parallel(batch, senders, deliver, must_stop=self._must_stop)
        with self.lock:
            held = self.refusals.released()
        self._record_bounces(held, writer)
        for claimed in left:  # left over by an outage or an error: back in the queue
            writer.record(released(claimed, self.clock()))
        if error is not None:
            writer.flush()
            raise error

    def _must_stop(self) -> bool:
        """Start no more messages: the server is out, or the run was asked to stop (each
        connection's message in flight is still answered and recorded)."""
        return self.server_error is not None or self.stop.is_set()

    def _deliver(self, claimed: Claimed, sender: Sender, writer: LedgerWriter) -> None:
        if claimed.subscriber_status != SubscriberStatus.CONFIRMED:
            self._record(skipped(claimed, self.clock()), writer)
            return
        try:
            envelope, message = self.letters.message_for(claimed)
        except PublisherError as error:
            self._record(unbuildable(claimed, error, self.clock()), writer)
            return
        self.limiter.wait()
        failure: RowFailure | None = None
        try:
            from_address = self.letters.sender_for(claimed, envelope)
            sender.transport.send(from_address, envelope.recipient, message)
        except ServerUnavailable as error:
            self.server_error = error
            writer.record(released(claimed, self.clock()))
            return
        except PermanentFailure as error:
            self._refused(claimed, error, writer)
            return
        except (TemporaryFailure, UncertainDelivery) as error:
            failure = error
        except BaseException:
            writer.record(released(claimed, self.clock()))
            raise
        self.pauses.outage.server_answered()
        with self.lock:
            held = self.refusals.released()
        self._record_bounces(held, writer)
        outcome = sent_or_failed(claimed, failure, self.clock(), self.retry)
        sender.recorded(self._record(outcome, writer), writer)

    def _refused(self, claimed: Claimed, failure: PermanentFailure, writer: LedgerWriter) -> None:
        """A 5xx: held until the next answer says whether it is the recipient's or the
        server's (see `rejections`)."""
        with self.lock:
            bounces, everyone = self.refusals.refused(claimed, failure)
        self._record_bounces(bounces, writer)
        if everyone:
            for held, _ in everyone:
                writer.record(released(held, self.clock()))
            self.server_error = server_refuses_everyone(everyone)

    def _record_bounces(self, held: list[Held], writer: LedgerWriter) -> None:
        for claimed, failure in held:
            self._record(sent_or_failed(claimed, failure, self.clock(), self.retry), writer)

    def _record(self, outcome: Outcome, writer: LedgerWriter) -> int:
        """Count and log the outcome, then hand it to the writer; returns its ticket."""
        with self.lock:
            self.report.count(outcome.status)
        if outcome.error and outcome.status not in (DeliveryStatus.SKIPPED, DeliveryStatus.PENDING):
            log.warning(
                "edition %s to %s: %s: %s",
                self.edition.id,
                outcome.claimed.email,
                outcome.status,
                outcome.error,
            )
        return writer.record(outcome)
