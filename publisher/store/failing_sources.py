"""Upstream sources whose last fetch failed: what `status` shows the operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.schema import sources


@dataclass(frozen=True, slots=True)
class FailingSource:
    """A source failing `failures` fetches in a row since `since`, with its last error."""

    name: str
    failures: int
    since: datetime | None
    last_error: str
    disabled: bool


def failing_sources(connection: Connection) -> list[FailingSource]:
    """Every source whose last fetch failed (or that a 410 disabled), by name."""
    rows = connection.execute(
        sa.select(
            sources.c.name,
            sources.c.failures,
            sources.c.failing_since,
            sources.c.last_error,
            sources.c.disabled,
        )
        .where(sa.or_(sources.c.failures > 0, sources.c.disabled == sa.true()))
        .order_by(sources.c.name)
    )
    return [
        FailingSource(
            row.name, int(row.failures), row.failing_since, row.last_error or "", bool(row.disabled)
        )
        for row in rows
    ]
