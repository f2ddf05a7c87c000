"""What became of one claimed row: the transport's answer as the ledger's outcome.

Pure functions from a row, what happened and the time to the `Outcome` the ledger writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.mail.delivery.ledger import Claimed, Outcome
from publisher.mail.transport.protocol import PermanentFailure, TemporaryFailure, UncertainDelivery
from publisher.store.statuses import DeliveryStatus

# What a send may end in, each ending one row: anything else stops the run.
RowFailure = TemporaryFailure | PermanentFailure | UncertainDelivery


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`[delivery] max_attempts` and `retry_backoff` (seconds, doubled on each attempt)."""

    max_attempts: int
    retry_backoff: float


def skipped(claimed: Claimed, now: datetime) -> Outcome:
    """The row of a subscriber who is no longer confirmed: no message goes."""
    return Outcome(
        claimed, DeliveryStatus.SKIPPED, now, f"subscriber is {claimed.subscriber_status}"
    )


def unbuildable(claimed: Claimed, error: Exception, now: datetime) -> Outcome:
    """The row whose message could not be built: failed, with no bounce counted."""
    return Outcome(claimed, DeliveryStatus.FAILED, now, str(error))


def released(claimed: Claimed, now: datetime) -> Outcome:
    """The row back in the queue as it was, no attempt spent: nothing was sent."""
    return Outcome(claimed, DeliveryStatus.PENDING, now)


def sent_or_failed(
    claimed: Claimed, failure: RowFailure | None, now: datetime, policy: RetryPolicy
) -> Outcome:
    """The row after the server answered: sent, failed (a bounce), uncertain, or to be tried
    again later (retryable once its attempts run out)."""
    if failure is None:
        return Outcome(claimed, DeliveryStatus.SENT, now)
    if isinstance(failure, PermanentFailure):
        return Outcome(
            claimed, DeliveryStatus.FAILED, now, str(failure), bounce=True, code=failure.code
        )
    if isinstance(failure, UncertainDelivery):
        return Outcome(claimed, DeliveryStatus.UNCERTAIN, now, str(failure))
    return _retry_later(claimed, failure, now, policy)


def _retry_later(
    claimed: Claimed, failure: TemporaryFailure, now: datetime, policy: RetryPolicy
) -> Outcome:
    attempts = claimed.attempts + 1
    if attempts >= policy.max_attempts:
        return Outcome(
            claimed, DeliveryStatus.RETRYABLE, now, f"gave up after {attempts} attempts: {failure}"
        )
    delay = policy.retry_backoff * 2 ** (attempts - 1)
    return Outcome(
        claimed,
        DeliveryStatus.PENDING,
        now,
        str(failure),
        attempts=attempts,
        next_attempt_at=now + timedelta(seconds=delay),
    )
