"""The events table's vocabulary: what happened to a subscriber, and how a report is keyed.

Inbound mail, webhooks and refusals at send time all record events in these words.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy.engine import Connection

from publisher.store.schema import events

MAX_DIAGNOSTIC = 500


def event_key(source: str, report_id: str, recipient: str | None) -> str:
    """A short, fixed-length key for the event a report gives about one recipient."""
    text = f"{source}\0{report_id}\0{(recipient or '').casefold()}"
    return f"{source}:{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:40]}"


def clean_diagnostic(text: str) -> str:
    """A diagnostic as one line of printable text, cut to a storable length."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat[:MAX_DIAGNOSTIC]


OPERATOR_SOURCE = "admin"


def insert_operator_event(
    connection: Connection, subscriber_id: int, kind: str, code: str, who: str, now: datetime
) -> None:
    """Record what an operator did to a subscriber, and who did it."""
    connection.execute(
        events.insert().values(
            key=f"{OPERATOR_SOURCE}:{secrets.token_hex(20)}",
            subscriber_id=subscriber_id,
            kind=kind,
            code=code[:32],
            diagnostic=clean_diagnostic(f"by {who}"),
            source=OPERATOR_SOURCE,
            occurred_at=now,
        )
    )
