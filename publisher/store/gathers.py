"""What each gather leaves in the store for `publisher status`: when it ran, what failed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from publisher.errors import ContentError
from publisher.store.database import put_setting, setting

LAST_GATHER_SETTING = "last_gather"
MAX_RECORDED_ERRORS = 20


@dataclass(frozen=True, slots=True)
class GatherRecord:
    """When the last gather ran, how many articles it could not publish, and the first ones."""

    at: datetime
    error_count: int
    errors: tuple[ContentError, ...]


def record_gather(
    connection: Connection, errors: Sequence[ContentError], now: datetime, failed_sources: int = 0
) -> None:
    """Keep when this gather ran and its errors (the first few of them) for `status`.

    Its error count holds the `failed_sources` too (`status` lists those on their own lines).
    """
    kept = [[e.path, e.line, e.message] for e in errors[:MAX_RECORDED_ERRORS]]
    error_count = len(errors) + failed_sources
    record = {"at": now.isoformat(), "error_count": error_count, "errors": kept}
    put_setting(connection, LAST_GATHER_SETTING, json.dumps(record))


def last_gather(connection: Connection) -> GatherRecord | None:
    """The last gather's record, or None if no gather has run since stores kept one."""
    value = setting(connection, LAST_GATHER_SETTING)
    if value is None:
        return None
    record = json.loads(value)
    return GatherRecord(
        at=datetime.fromisoformat(record["at"]),
        error_count=int(record["error_count"]),
        errors=tuple(ContentError(path, line, message) for path, line, message in record["errors"]),
    )
