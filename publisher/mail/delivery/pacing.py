"""How fast a run may send and when it must wait: server outages and the daily message cap.

Pure decisions from the clock's readings; the delivery worker does the waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRST_OUTAGE_WAIT = 1.0
LONGEST_OUTAGE_WAIT = 60.0


@dataclass(slots=True)
class OutageBackoff:
    """Waits between tries of a server that is down: none at first (a dropped connection is
    often just reopened), then 1 s doubling up to a minute, until `patience` is spent."""

    patience: timedelta
    started_at: datetime | None = None
    failures: int = 0

    def next_wait(self, now: datetime) -> float | None:
        """Seconds to wait before trying the server again; None once patience is exhausted."""
        if self.started_at is None:
            self.started_at = now
        self.failures += 1
        if now - self.started_at >= self.patience:
            return None
        if self.failures == 1:
            return 0.0
        wait: float = min(FIRST_OUTAGE_WAIT * 2.0 ** (self.failures - 2), LONGEST_OUTAGE_WAIT)
        left = (self.started_at + self.patience - now).total_seconds()
        return min(wait, left)

    def server_answered(self) -> None:
        """The server took part in a transaction again: the outage is over."""
        self.started_at = None
        self.failures = 0

    def waited_for(self, now: datetime) -> timedelta:
        """How long the current outage has lasted."""
        return now - self.started_at if self.started_at else timedelta(0)


def day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of `now`'s calendar day in `zone`, in UTC (so differences count real hours)."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def next_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of the calendar day after `now`'s in `zone`, in UTC."""
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def allowed_today(limit: int, used_today: int) -> int | None:
    """How many more messages may start today under `daily_limit`; None without a limit."""
    if limit <= 0:
        return None
    return max(0, limit - used_today)
