"""Pacing decisions from clock readings: outage backoff and the daily limit's calendar day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from publisher.mail.delivery.pacing import OutageBackoff, allowed_today, day_start, next_day_start

LONDON = ZoneInfo("Europe/London")
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def waits_until_given_up(backoff: OutageBackoff, now: datetime) -> list[float]:
    waits = []
    while (wait := backoff.next_wait(now)) is not None:
        waits.append(wait)
        now += timedelta(seconds=wait)
    return waits


def test_outage_backoff_retries_at_once_then_doubles_to_a_minute_until_patience() -> None:
    waits = waits_until_given_up(OutageBackoff(timedelta(minutes=5)), START)
    assert waits[:8] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert set(waits[8:-1]) == {60.0}
    assert sum(waits) == 300.0  # the last wait ends exactly when patience does


def test_an_answer_from_the_server_ends_the_outage() -> None:
    backoff = OutageBackoff(timedelta(hours=1))
    for _ in range(5):
        backoff.next_wait(START)
    backoff.server_answered()
    assert backoff.next_wait(START + timedelta(hours=2)) == 0.0
    assert backoff.waited_for(START + timedelta(hours=2, seconds=30)) == timedelta(seconds=30)


def test_calendar_day_follows_the_site_zone_across_the_clock_change() -> None:
    # 25 October 2026 has 25 hours in London.
    now = datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
    assert day_start(now, LONDON) == datetime(2026, 10, 25, tzinfo=LONDON)
    assert next_day_start(now, LONDON) - day_start(now, LONDON) == timedelta(hours=25)
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # already 1 July in London
    assert day_start(late, LONDON) == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)


def test_daily_allowance() -> None:
    assert allowed_today(0, 10_000) is None
    assert allowed_today(100, 40) == 60
    assert allowed_today(100, 140) == 0
