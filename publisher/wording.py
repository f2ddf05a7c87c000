"""How counts, durations and dates read in messages: "1 article", "10 minutes",
"25 November 2026"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`number` with `noun` in the right number (`plural`, default `noun` + "s")."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def duration_words(value: timedelta) -> str:
    """A duration in whole seconds, as words: `20 seconds`, `10 minutes`, `1 hour 5 minutes`."""
    seconds = max(0, round(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        count(number, noun)
        for number, noun in ((hours, "hour"), (minutes, "minute"), (seconds, "second"))
        if number
    ]
    return " ".join(parts) or "0 seconds"


DATE_FORMAT = "%-d %B %Y"


def local_time(moment: datetime, zone: tzinfo) -> datetime:
    """`moment` on the clock of `zone`: the one conversion every page, feed and email uses, so
    a date-only article dated in the site's zone shows that date everywhere."""
    if moment.tzinfo is None:
        raise ValueError(f"cannot show {moment.isoformat()}: the datetime has no zone")
    return moment.astimezone(zone)


def format_date(moment: datetime, zone: tzinfo | None = None, pattern: str = DATE_FORMAT) -> str:
    """`moment` as readers see it, e.g. "25 November 2026", in `zone` (default: its own).

    `pattern` is a `strftime` pattern; `%-d` is the day without a leading zero on every
    platform. ValueError for a naive datetime.
    """
    local = local_time(moment, zone if zone is not None else moment.tzinfo or UTC)
    return local.strftime(pattern.replace("%-d", str(local.day)))
