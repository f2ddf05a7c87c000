"""Sends asked for from the dashboard or the API: queued in the store, carried out here.

The web process never sends an edition: it queues a request and answers at once. The daemon
takes the queue every `[schedule] standby_poll`; without a daemon, the next `publisher send`
takes it first. Each request is claimed by one process; a send is `send_edition` with the
request's options, a test send `send_edition_proof` to the address it names.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.mail.delivery.send import SendOptions, send_edition
from publisher.mail.stored_editions import edition_by_id
from publisher.store.database import Store
from publisher.store.sendrequests import (
    SendRequest,
    claim_next_send_request,
    finish_send_request,
    insert_send_request,
)

log = logging.getLogger(__name__)

SEND, TEST = "send", "test"


def queue_send(
    store: Store, edition_id: int, options: SendOptions, requested_by: str, now: datetime
) -> SendRequest:
    """Queue a send of an edition; PublisherError if there is no such edition."""
    edition_by_id(store, edition_id)
    with store.transaction() as connection:
        return insert_send_request(
            connection,
            {
                "edition_id": edition_id,
                "kind": SEND,
                "force": options.force,
                "retry_uncertain": options.retry_uncertain,
                "retry_failed": options.retry_failed,
                "requested_by": requested_by[:80],
                "requested_at": now,
            },
        )


def queue_test_send(
    store: Store, edition_id: int, address: str, requested_by: str, now: datetime
) -> SendRequest:
    """Queue a test send of an edition, marked [TEST], to one address."""
    from publisher.audience.subscribers import check_address  # email_validator: not for `send`

    email = check_address(address).email
    edition_by_id(store, edition_id)
    with store.transaction() as connection:
        return insert_send_request(
            connection,
            {
                "edition_id": edition_id,
                "kind": TEST,
                "test_address": email,
                "requested_by": requested_by[:80],
                "requested_at": now,
            },
        )


def run_queued_sends(
    store: Store,
    config: Config,
    environ: Mapping[str, str],
    clock: Clock = system_clock,
    stop: threading.Event | None = None,
) -> list[str]:
    """Carry out every queued request, oldest first; one line per request done."""
    lines: list[str] = []
    while stop is None or not stop.is_set():
        with store.transaction() as connection:
            request = claim_next_send_request(connection, clock())
        if request is None:
            break
        try:
            outcome = _carry_out(store, config, environ, request, clock, stop)
        except PublisherError as error:
            outcome = f"failed: {error}"
            log.warning("queued %s %s: %s", request.kind, request.id, outcome)
        with store.transaction() as connection:
            finish_send_request(connection, request.id, clock(), outcome)
        lines.append(f"queued {request.kind} {request.id} (by {request.requested_by}): {outcome}")
    return lines


def _carry_out(
    store: Store,
    config: Config,
    environ: Mapping[str, str],
    request: SendRequest,
    clock: Clock,
    stop: threading.Event | None,
) -> str:
    if request.kind == TEST:
        from publisher.mail.proofs import send_edition_proof  # renders: not for a plain send

        assert request.test_address is not None
        return send_edition_proof(
            store, config, request.edition_id, (request.test_address,), environ, clock
        ).summary()
    options = SendOptions(
        force=request.force,
        retry_uncertain=request.retry_uncertain,
        retry_failed=request.retry_failed,
    )
    report = send_edition(
        store, config, request.edition_id, environ, options, clock=clock, stop=stop
    )
    return report.summary()
