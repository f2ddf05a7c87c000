"""WebSub publish pings waiting in the store for their hub."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.schema import websub_pings


def pending_ping_count(connection: Connection) -> int:
    """How many pings wait for a hub."""
    count = connection.scalar(sa.select(sa.func.count()).select_from(websub_pings))
    return int(count or 0)
