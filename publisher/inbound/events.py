"""The event inbound mail and webhooks both yield: who bounced, complained or unsubscribed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

HARD_BOUNCE = "hard_bounce"
SOFT_BOUNCE = "soft_bounce"
COMPLAINT = "complaint"
UNSUBSCRIBE = "unsubscribe"
AUTO_REPLY = "auto_reply"
UNKNOWN = "unknown"
EVENT_KINDS = (HARD_BOUNCE, SOFT_BOUNCE, COMPLAINT, UNSUBSCRIBE)
MAX_DIAGNOSTIC = 500


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One thing that happened to one recipient, as a message or a webhook reported it.

    `key` identifies the report: the same report read twice has the same key, and is applied
    once. `token` is a return-path or unsubscribe token found in the report (checked only when
    applied); `original_id` the Message-ID of our message the report quotes, if it quotes one;
    `recipient` the address the report names, used when neither finds the delivery.
    """

    kind: str
    key: str
    recipient: str | None = None
    token: str | None = None
    code: str = ""
    diagnostic: str = ""
    source: str = "mail"
    original_id: str | None = None


def event_key(source: str, report_id: str, recipient: str | None) -> str:
    """A short, fixed-length key for the event a report gives about one recipient."""
    text = f"{source}\0{report_id}\0{(recipient or '').casefold()}"
    return f"{source}:{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:40]}"


def clean_diagnostic(text: str) -> str:
    """A diagnostic as one line of printable text, cut to a storable length."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat[:MAX_DIAGNOSTIC]
