"""How counts and durations read in messages: "1 article", "2 articles", "10 minutes"."""

from __future__ import annotations

from datetime import timedelta


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
