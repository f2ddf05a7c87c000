"""The statuses rows of the store take, one kind each: an article's, a subscriber's, a delivery's,
and the kinds of event that happen to a subscriber.

They are `StrEnum`s: stored as their plain string values, compared equal to them.
"""

from __future__ import annotations

from enum import StrEnum


class ArticleStatus(StrEnum):
    """Where an article stands: only public ones reach feeds, pages and digests."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"  # dated in the future: public at the first gather after its time
    PUBLIC = "public"
    WITHDRAWN = "withdrawn"  # its file is gone; the same article can come back


class SubscriberStatus(StrEnum):
    """Where a subscriber stands: only confirmed ones get digests."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    # Reported mail as spam: only a new double opt-in (a confirmed web sign-up) undoes it.
    COMPLAINED = "complained"
    FORGOTTEN = "forgotten"


class DeliveryStatus(StrEnum):
    """Where one edition's delivery to one subscriber stands, in the ledger."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # Its attempts ran out on temporary failures: `send --retry-failed` sends it again.
    RETRYABLE = "retryable"
    UNCERTAIN = "uncertain"  # the server may have taken it: never sent again by itself
    SKIPPED = "skipped"  # paused, or left the digest, before it went out


class EventKind(StrEnum):
    """What inbound mail, a webhook or a refusal at send time says happened to a subscriber."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto_reply"
    UNKNOWN = "unknown"
    # Something an operator did from the dashboard or the API; the code says what, the
    # diagnostic who.
    ADMIN_ACTION = "admin_action"
