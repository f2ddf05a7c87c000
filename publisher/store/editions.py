"""Stored editions as lists of them show them (subjects and dates, no bodies) and their
deliveries counted by status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.database import Store
from publisher.store.schema import deliveries, editions

# Web pages (read-only queries) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditionSummary:
    """What a list of past editions shows: no bodies."""

    digest: str
    number: int
    subject: str
    created_at: datetime
    article_guids: tuple[str, ...] = ()


def edition_summary(connection: Connection, digest: str, number: int) -> EditionSummary | None:
    """One stored edition without its bodies (with its articles' GUIDs), or None."""
    row = connection.execute(
        sa.select(
            editions.c.digest,
            editions.c.number,
            editions.c.subject,
            editions.c.created_at,
            editions.c.article_guids,
        ).where(editions.c.digest == digest, editions.c.number == number)
    ).first()
    if row is None:
        return None
    values = dict(row._mapping)
    return EditionSummary(**{**values, "article_guids": tuple(values["article_guids"])})


def edition_summaries(connection: Connection, limit: int | None = None) -> list[EditionSummary]:
    """Stored editions without their bodies, newest first."""
    query = (
        sa.select(editions.c.digest, editions.c.number, editions.c.subject, editions.c.created_at)
        .order_by(editions.c.created_at.desc(), editions.c.id.desc())
        .limit(limit)
    )
    return [EditionSummary(**row._mapping) for row in connection.execute(query)]


def ledger_counts(connection: Connection, edition_id: int) -> dict[str, int]:
    """How many of an edition's deliveries are in each status."""
    rows = connection.execute(
        sa.select(deliveries.c.status, sa.func.count())
        .where(deliveries.c.edition_id == edition_id)
        .group_by(deliveries.c.status)
    )
    return {status: int(count) for status, count in rows}


def delivery_counts(store: Store) -> dict[int, dict[str, int]]:
    """Every edition's ledger counts by status (editions with no ledger yet are absent)."""
    with store.read() as connection:
        rows = connection.execute(
            sa.select(deliveries.c.edition_id, deliveries.c.status, sa.func.count()).group_by(
                deliveries.c.edition_id, deliveries.c.status
            )
        )
        counts: dict[int, dict[str, int]] = {}
        for edition_id, status, count in rows:
            counts.setdefault(int(edition_id), {})[status] = int(count)
        return counts
