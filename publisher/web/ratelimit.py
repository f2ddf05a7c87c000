"""Rate limits kept in the store, so every `publisher serve` process and machine shares one.

Fixed windows: a request from a client in the window starting at `window_start` (a multiple
of the window's length in Unix seconds) counts in that window's row, and is refused once the
row holds `limit`. Refused requests are not counted. Each check deletes the rows of windows
that have ended, so the table holds at most one window's clients.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite

from publisher.store.database import Store
from publisher.store.schema import rate_limits
from publisher.web.security import Decision

MAX_KEY_LENGTH = 64


def stored_key(client: str) -> str:
    """The client key as the table holds it: itself, or a digest when it is too long."""
    if len(client) <= MAX_KEY_LENGTH:
        return client
    return "sha256:" + hashlib.sha256(client.encode()).hexdigest()[: MAX_KEY_LENGTH - 7]


class StoredRateLimit:
    """At most `limit` requests per client in each fixed `window`, counted in the store."""

    def __init__(
        self,
        store: Store,
        scope: str,
        limit: int,
        window: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.scope, self.limit, self.clock = store, scope, limit, clock
        self.window = max(1, int(window.total_seconds()))

    def check(self, client: str) -> Decision:
        """Count a request from `client` if its window still has room; else when to retry."""
        now = self.clock().timestamp()
        start = int(now // self.window) * self.window
        key = stored_key(client)
        with self.store.transaction() as connection:
            connection.execute(
                rate_limits.delete().where(
                    rate_limits.c.scope == self.scope, rate_limits.c.window_start < start
                )
            )
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            counted = connection.execute(
                insert(rate_limits)
                .values(scope=self.scope, client_key=key, window_start=start, count=1)
                .on_conflict_do_update(
                    index_elements=[
                        rate_limits.c.scope,
                        rate_limits.c.client_key,
                        rate_limits.c.window_start,
                    ],
                    set_={"count": rate_limits.c.count + 1},
                    where=rate_limits.c.count < self.limit,
                )
                .returning(rate_limits.c.count)
            ).first()
        if counted is not None:
            return Decision(True)
        return Decision(False, max(1, math.ceil(start + self.window - now)))
