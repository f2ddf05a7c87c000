"""The event inbound mail and webhooks both yield: who bounced, complained or unsubscribed."""

from __future__ import annotations

from dataclasses import dataclass


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
