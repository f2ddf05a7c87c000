"""The delivery ledger's rows: claimed with a lease, their outcomes written in grouped commits.

`LedgerWriter` takes each outcome from the sending threads and writes whatever has gathered
in one transaction, on its own thread, so no send waits for a commit. A row is recorded as
sent only after the server accepted its message; each outcome has an event that is set once
it is committed, which senders use to bound how much can be unrecorded at a crash.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from publisher.store.database import Store
from publisher.store.events import clean_diagnostic, event_key
from publisher.store.schema import deliveries, editions, events, subscribers
from publisher.store.statuses import DeliveryStatus, EventKind
from publisher.store.subscribers import count_hard_bounces

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 500


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
class Outcome:
    """What became of one claimed row. `status` PENDING puts it back in the queue."""

    claimed: Claimed
    status: DeliveryStatus
    at: datetime
    error: str | None = None
    attempts: int | None = None  # None: the claimed count, plus one unless skipped or released
    next_attempt_at: datetime | None = None
    bounce: bool = False
    code: int | None = None  # a bounce's SMTP reply code

    def bounce_event(self) -> dict[str, Any]:
        """The `events` row a refusal at send time leaves, as `subscribers show` lists it.

        Its key names the delivery row: one event per row, however often the row is written.
        """
        claimed = self.claimed
        return {
            "key": event_key("smtp", f"delivery {claimed.id}", claimed.email),
            "subscriber_id": claimed.subscriber_id,
            "delivery_id": claimed.id,
            "kind": EventKind.HARD_BOUNCE,
            "code": "" if self.code is None else str(self.code),
            "diagnostic": clean_diagnostic(self.error or ""),
            "source": "smtp",
            "digest": None,
            "occurred_at": self.at,
        }

    def values(self) -> dict[str, Any]:
        """The row's new column values, keyed for the writer's grouped UPDATE."""
        attempts = self.attempts
        if attempts is None:
            attempts = self.claimed.attempts + (
                self.status not in (DeliveryStatus.SKIPPED, DeliveryStatus.PENDING)
            )
        return {
            "row_id": self.claimed.id,
            "new_status": self.status,
            "new_attempts": attempts,
            "new_error": self.error[:MAX_ERROR_LENGTH] if self.error else None,
            "new_next_attempt_at": self.next_attempt_at,
            "new_sent_at": self.at if self.status == DeliveryStatus.SENT else None,
        }


@dataclass(frozen=True, slots=True)
class RemainingRows:
    """An edition's rows that still need something, by kind."""

    pending: int = 0
    uncertain: int = 0
    retryable: int = 0
    failed: int = 0

    def hints(self, edition_id: int) -> list[str]:
        """One line per kind that remains: how many, and the command that sends them."""
        lines = []
        if self.pending:
            lines.append(f"{self.pending} pending: publisher send {edition_id}")
        if self.retryable:
            lines.append(
                f"{self.retryable} failed temporarily: publisher send {edition_id} --retry-failed"
            )
        if self.uncertain:
            lines.append(
                f"{self.uncertain} uncertain (may have arrived): "
                f"publisher send {edition_id} --retry-uncertain"
            )
        if self.failed:
            lines.append(f"{self.failed} refused for good (bounced or invalid): not resent")
        return lines

    @property
    def need_a_decision(self) -> bool:
        """Whether rows wait for someone to choose `--retry-uncertain` or `--retry-failed`
        (pending rows need nobody: a worker or the next `send` takes them)."""
        return bool(self.uncertain or self.retryable)

    @property
    def unfinished(self) -> bool:
        """Whether some row may still be sent: the edition is not delivered yet."""
        return bool(self.pending or self.uncertain or self.retryable)


def remaining_rows(store: Store, edition_id: int) -> RemainingRows:
    """How many of an edition's rows are pending, uncertain, retryable and hard failed."""
    with store.transaction() as connection:
        rows = connection.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.edition_id == edition_id)
            .group_by(deliveries.c.status)
        )
        counts = {status: int(count) for status, count in rows}
    return RemainingRows(
        pending=counts.get(DeliveryStatus.PENDING, 0),
        uncertain=counts.get(DeliveryStatus.UNCERTAIN, 0),
        retryable=counts.get(DeliveryStatus.RETRYABLE, 0),
        failed=counts.get(DeliveryStatus.FAILED, 0),
    )


def editions_with_rows(store: Store, status: str) -> list[int]:
    """Editions that have at least one row in `status`, oldest first (delivered or not)."""
    with store.transaction() as connection:
        found = connection.execute(
            sa.select(deliveries.c.edition_id)
            .where(deliveries.c.status == status)
            .distinct()
            .order_by(deliveries.c.edition_id)
        ).scalars()
        return [int(edition_id) for edition_id in found]


def reopen_rows(store: Store, edition_id: int, status: str) -> int:
    """Put an edition's rows in `status` back in the queue, with fresh attempts for retryable
    ones; the edition is not delivered any more. Returns how many were reopened."""
    values: dict[str, Any] = {
        "status": DeliveryStatus.PENDING,
        "next_attempt_at": None,
        "lease_owner": None,
        "lease_until": None,
    }
    if status == DeliveryStatus.RETRYABLE:
        values["attempts"] = 0
    with store.transaction() as connection:
        reopened = connection.execute(
            deliveries.update()
            .where(deliveries.c.edition_id == edition_id, deliveries.c.status == status)
            .values(**values)
        ).rowcount
        if reopened:
            connection.execute(
                editions.update().where(editions.c.id == edition_id).values(delivered_at=None)
            )
        return int(reopened)


def claim_rows(
    store: Store, edition_id: int, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to `limit` pending rows that are due and not leased by a live worker."""
    with store.transaction() as connection:
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
                deliveries.c.edition_id == edition_id,
                deliveries.c.status == DeliveryStatus.PENDING,
                sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
                sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
                # Redundant, but PostgreSQL walks the primary key for this order and would read
                # every row already sent before the first pending one: start it there.
                deliveries.c.id >= _first_pending_id(edition_id),
            )
            .order_by(deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=deliveries)
        )
        batch = [Claimed(**row._mapping) for row in connection.execute(query)]
        if batch:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id.in_([claimed.id for claimed in batch]))
                .values(lease_owner=owner, lease_until=now + lease)
            )
    return batch


def _first_pending_id(edition_id: int) -> sa.ScalarSelect[Any]:
    """The edition's lowest pending row id, from `ix_deliveries_edition_status`."""
    return (
        sa.select(sa.func.min(deliveries.c.id))
        .where(
            deliveries.c.edition_id == edition_id,
            deliveries.c.status == DeliveryStatus.PENDING,
        )
        .scalar_subquery()
    )


def messages_started_since(store: Store, since: datetime, now: datetime) -> int:
    """Rows sent at or after `since` in every edition, plus rows leased right now (in flight
    in some process): what counts against today's `daily_limit`."""
    with store.transaction() as connection:
        sent = connection.scalar(
            sa.select(sa.func.count())
            .select_from(deliveries)
            .where(deliveries.c.status == DeliveryStatus.SENT, deliveries.c.sent_at >= since)
        )
        leased = connection.scalar(
            sa.select(sa.func.count())
            .select_from(deliveries)
            .where(deliveries.c.status == DeliveryStatus.PENDING, deliveries.c.lease_until > now)
        )
    return int(sent or 0) + int(leased or 0)


def seconds_until_next_retry(store: Store, edition_id: int, now: datetime) -> float | None:
    """How long until a pending, unleased row can be tried again; None when none is waiting."""
    with store.transaction() as connection:
        earliest: datetime | None = connection.scalar(
            sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
                deliveries.c.edition_id == edition_id,
                deliveries.c.status == DeliveryStatus.PENDING,
                deliveries.c.lease_owner.is_(None),
                deliveries.c.next_attempt_at > now,
            )
        )
    if earliest is None:
        return None
    return max(0.0, (earliest - now).total_seconds())


def release_dead_leases(store: Store, edition_id: int, host: str) -> None:
    """Free rows leased by a process of this host that has died (a kill -9, a crash)."""
    with store.transaction() as connection:
        owners = leased_owners(connection, edition_id)
        dead = [owner for owner in owners if is_dead_local_owner(owner, host)]
        if dead:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.lease_owner.in_(dead))
                .values(lease_owner=None, lease_until=None)
            )
            log.info("released rows leased by %s", ", ".join(dead))


def leased_owners(connection: sa.Connection, edition_id: int) -> list[str]:
    """Who holds leases on the edition's pending rows now, found on `ix_deliveries_leases`."""
    found = connection.execute(
        sa.select(deliveries.c.lease_owner)
        .where(
            deliveries.c.edition_id == edition_id,
            deliveries.c.status == DeliveryStatus.PENDING,
            deliveries.c.lease_owner.is_not(None),
        )
        .distinct()
    ).scalars()
    return [str(owner) for owner in found]


def is_dead_local_owner(owner: str, host: str) -> bool:
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


_OUTCOME_UPDATE = (
    deliveries.update()
    .where(deliveries.c.id == sa.bindparam("row_id"))
    .values(
        status=sa.bindparam("new_status"),
        attempts=sa.bindparam("new_attempts"),
        last_error=sa.bindparam("new_error"),
        next_attempt_at=sa.bindparam("new_next_attempt_at"),
        sent_at=sa.bindparam("new_sent_at"),
        lease_owner=None,
        lease_until=None,
    )
)


class LedgerWriter:
    """Writes outcomes on a thread of its own, everything that gathered in one transaction.

    Each outcome gets a ticket, its place in the order of recording. The writer commits when
    a sender waits for a ticket, when `GROUP_SIZE` outcomes have gathered or when the oldest
    has waited `GROUP_DELAY` seconds: a commit per few messages rather than per message, and
    never a wait that nobody asked for. A sender that must wait while no group is being
    written commits the group itself: handing it to the writer's thread and back cost two
    thread wake-ups per wait, a third of the wait (measured on a loopback send).
    """

    GROUP_SIZE = 256
    GROUP_DELAY = 0.005

    def __init__(self, store: Store, bounce_limit: int) -> None:
        self.store = store
        self.bounce_limit = bounce_limit
        self._queue: list[Outcome] = []
        self._changed = threading.Condition()
        self._closing = False
        self._writing = False  # a group is being written, by the writer or by a sender
        self._recorded = 0  # tickets handed out
        self._written = 0  # tickets committed: outcomes are written in the order recorded
        self._wanted = 0  # the highest ticket a sender waits for
        self._oldest_at = 0.0
        self._error: BaseException | None = None
        # One connection for the writer's life, used by one group at a time: a pool checkout
        # and reset per group would cost more than the group's own statements.
        self._connection: sa.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def record(self, outcome: Outcome) -> int:
        """Queue `outcome`; returns its ticket for `wait_until_written`."""
        with self._changed:
            self._raise_if_failed()
            self._queue.append(outcome)
            self._recorded += 1
            if len(self._queue) == 1:  # the writer starts the group's clock
                self._oldest_at = time.monotonic()
                self._changed.notify_all()
            elif len(self._queue) == self.GROUP_SIZE:
                self._changed.notify_all()
            return self._recorded

    def hurry(self, ticket: int) -> None:
        """Ask for `ticket` to be committed without waiting for it: a sender about to need it
        says so early, so the commit overlaps its next message."""
        with self._changed:
            if ticket > max(self._written, self._wanted):
                self._wanted = ticket
                self._changed.notify_all()

    def wait_until_written(self, ticket: int) -> None:
        """Return once the outcome with `ticket` is committed; raise if the writer failed."""
        with self._changed:
            self._wanted = max(self._wanted, ticket)
            while self._written < ticket and self._error is None:
                if self._writing or not self._queue:
                    self._changed.notify_all()
                    self._changed.wait()
                    continue
                group = self._take_group()
                self._changed.release()
                try:
                    self._write_group(group)
                finally:
                    self._changed.acquire()
            self._raise_if_failed()

    def flush(self) -> None:
        """Wait until everything recorded so far is committed."""
        self.wait_until_written(self._recorded)

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _group_is_due(self) -> bool:
        if self._writing:
            return False
        if not self._queue:
            return self._closing
        return (
            self._closing
            or self._wanted > self._written
            or len(self._queue) >= self.GROUP_SIZE
            or time.monotonic() - self._oldest_at >= self.GROUP_DELAY
        )

    def _take_group(self) -> list[Outcome]:
        """Everything queued, now this thread's to write (called holding `_changed`)."""
        group, self._queue = self._queue, []
        self._writing = True
        return group

    def _next_group(self) -> list[Outcome] | None:
        """The outcomes to commit next, once due; None when closing with nothing left."""
        with self._changed:
            while not self._group_is_due():
                if self._queue:
                    self._changed.wait(self.GROUP_DELAY)
                else:
                    self._changed.wait()
            if not self._queue:
                return None
            return self._take_group()

    def _run(self) -> None:
        try:
            while self._error is None:
                group = self._next_group()
                if group is None:
                    return
                self._write_group(group)
        finally:
            if self._connection is not None:
                self._connection.close()

    def _write_group(self, group: list[Outcome]) -> None:
        """Commit `group`, then count it written (called by the one thread that took it)."""
        try:
            self._connection = self._connection or self.store.engine.connect()
            self._write(self._connection, group)
        except BaseException as error:  # raised again in the sending threads
            log.exception("the delivery ledger could not be written")
            self._error = error
        with self._changed:
            self._written += len(group)
            self._writing = False
            self._changed.notify_all()

    def _write(self, connection: sa.Connection, group: list[Outcome]) -> None:
        bounced = [outcome for outcome in group if outcome.bounce]
        with connection.begin():
            connection.execute(_OUTCOME_UPDATE, [outcome.values() for outcome in group])
            if bounced:
                bounced_ids = [outcome.claimed.subscriber_id for outcome in bounced]
                count_hard_bounces(connection, bounced_ids, self.bounce_limit)
                _store_bounce_events(connection, bounced)


def _store_bounce_events(connection: sa.Connection, bounced: list[Outcome]) -> None:
    """Store each refusal as a hard bounce event, once per delivery row.

    The event only records: `count_hard_bounces` has counted the bounce in this transaction, so
    the event is written here rather than through `inbound.apply`, which would count it again.
    """
    rows = [outcome.bounce_event() for outcome in bounced]
    stored = set(
        connection.execute(
            sa.select(events.c.key).where(events.c.key.in_([row["key"] for row in rows]))
        ).scalars()
    )
    new = [row for row in rows if row["key"] not in stored]
    if new:
        connection.execute(events.insert(), new)
