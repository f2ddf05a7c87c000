"""Queued sends in the store: asked for by the web, claimed once by a sending process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.schema import send_requests


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One send (or test send) asked for, and where it stands."""

    id: int
    edition_id: int
    kind: str
    force: bool
    retry_uncertain: bool
    retry_failed: bool
    test_address: str | None
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str | None

    @property
    def state(self) -> str:
        """queued, running or done."""
        if self.finished_at is not None:
            return "done"
        return "running" if self.started_at is not None else "queued"


def insert_send_request(connection: Connection, values: dict[str, object]) -> SendRequest:
    """Queue a request; `values` are its columns but id and the times it ran."""
    request_id = connection.execute(
        send_requests.insert().values(**values).returning(send_requests.c.id)
    ).scalar_one()
    found = send_request(connection, int(request_id))
    assert found is not None
    return found


def send_request(connection: Connection, request_id: int) -> SendRequest | None:
    """One request by id, or None."""
    row = connection.execute(
        sa.select(send_requests).where(send_requests.c.id == request_id)
    ).first()
    return None if row is None else SendRequest(**row._mapping)


def edition_send_requests(connection: Connection, edition_id: int) -> list[SendRequest]:
    """An edition's requests, newest first."""
    rows = connection.execute(
        sa.select(send_requests)
        .where(send_requests.c.edition_id == edition_id)
        .order_by(send_requests.c.id.desc())
    )
    return [SendRequest(**row._mapping) for row in rows]


def claim_next_send_request(connection: Connection, now: datetime) -> SendRequest | None:
    """Take the oldest request nobody started; the conditional update makes it one taker's."""
    while True:
        request_id = connection.scalar(
            sa.select(send_requests.c.id)
            .where(send_requests.c.started_at.is_(None))
            .order_by(send_requests.c.id)
            .limit(1)
        )
        if request_id is None:
            return None
        taken = connection.execute(
            send_requests.update()
            .where(send_requests.c.id == request_id, send_requests.c.started_at.is_(None))
            .values(started_at=now)
        )
        if taken.rowcount == 1:
            return send_request(connection, int(request_id))


def finish_send_request(
    connection: Connection, request_id: int, now: datetime, outcome: str
) -> None:
    """Record how a request ended."""
    connection.execute(
        send_requests.update()
        .where(send_requests.c.id == request_id)
        .values(finished_at=now, outcome=outcome[:2000])
    )
