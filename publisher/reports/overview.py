"""The overview: what `status` shows, plus growth per day, mail rates and failing sources."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from publisher.config import Config
from publisher.sources.poll import SourceState, source_states
from publisher.status import SiteStatus, site_status
from publisher.store.dashboard import (
    EditionRow,
    MailRates,
    edition_rows,
    growth_moments,
    mail_rates,
)
from publisher.store.database import Store

GROWTH_DAYS = 30
RATE_DAYS = 30
RECENT_EDITIONS = 5


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of numbers, one per category."""

    name: str
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """Counts per local day, oldest first."""

    days: tuple[date, ...]
    series: tuple[Series, ...]


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the overview page (and `GET /api/v1/status`) shows."""

    status: SiteStatus
    growth: DailyCounts
    editions: tuple[EditionRow, ...]
    rates: MailRates
    failing_sources: tuple[SourceState, ...]

    @property
    def bounce_rate(self) -> float | None:
        """Hard bounces per message sent in the last `RATE_DAYS` days (None before any)."""
        return self.rates.bounces / self.rates.sent if self.rates.sent else None

    @property
    def complaint_rate(self) -> float | None:
        """Complaints per message sent in the last `RATE_DAYS` days (None before any)."""
        return self.rates.complaints / self.rates.sent if self.rates.sent else None


def per_day(moments: Iterable[datetime], days: tuple[date, ...], zone: ZoneInfo) -> tuple[int, ...]:
    """How many of `moments` fall on each of `days`, in `zone`."""
    counted = Counter(moment.astimezone(zone).date() for moment in moments)
    return tuple(counted.get(day, 0) for day in days)


def last_days(now: datetime, zone: ZoneInfo, count: int) -> tuple[date, ...]:
    """The `count` local days ending today, oldest first."""
    today = now.astimezone(zone).date()
    return tuple(today - timedelta(days=back) for back in range(count - 1, -1, -1))


def daily_growth(store: Store, zone: ZoneInfo, now: datetime, count: int) -> DailyCounts:
    """Confirmations, unsubscribes and bounces per day for the last `count` days."""
    days = last_days(now, zone, count)
    since = datetime.combine(days[0], datetime.min.time(), zone)
    with store.transaction() as connection:
        moments = growth_moments(connection, since)
    return DailyCounts(
        days,
        (
            Series("confirmations", per_day(moments.confirmations, days, zone)),
            Series("unsubscribes", per_day(moments.unsubscribes, days, zone)),
            Series("bounces", per_day(moments.bounces, days, zone)),
        ),
    )


def failing_sources(config: Config, store: Store) -> tuple[SourceState, ...]:
    """Configured sources whose last fetch failed, or that were disabled."""
    states = source_states(store)
    found = (states.get(source.name) for source in config.sources)
    return tuple(
        state
        for state in found
        if state is not None and (state.failures or state.disabled or state.problem)
    )


def overview(config: Config, store: Store, now: datetime) -> Overview:
    """Read the overview from the store."""
    zone = config.site.zone
    with store.transaction() as connection:
        recent = edition_rows(connection, RECENT_EDITIONS)
        rates = mail_rates(connection, now - timedelta(days=RATE_DAYS))
    return Overview(
        status=site_status(config, store),
        growth=daily_growth(store, zone, now, GROWTH_DAYS),
        editions=tuple(recent),
        rates=rates,
        failing_sources=failing_sources(config, store),
    )
