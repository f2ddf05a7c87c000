"""Dates, times and numbers as a language writes them (Babel's CLDR data), in a given zone."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from publisher.i18n.tags import parse_language_tag


def long_date(value: datetime, tag: str, zone: ZoneInfo | None = None) -> str:
    """The day of `value` in `zone`, month in words: "20 October 2026", "20. Oktober 2026"."""
    if zone is not None and value.tzinfo is not None:
        return _long_date_in(value, tag, zone)
    return format_date(_local(value, zone).date(), format="long", locale=parse_language_tag(tag))


# A site shows each article's date on many pages. Only for a given zone: two datetimes that are
# equal (the same instant) in different zones are the same key, and may fall on other days.
@functools.lru_cache(maxsize=65536)
def _long_date_in(value: datetime, tag: str, zone: ZoneInfo) -> str:
    return format_date(value.astimezone(zone).date(), format="long", locale=parse_language_tag(tag))


def short_time(value: datetime, tag: str, zone: ZoneInfo | None = None) -> str:
    """The time of day of `value` in `zone`: "07:05" (en-GB, de), "7:05 AM" (en)."""
    return format_time(_local(value, zone).timetz(), format="short", locale=parse_language_tag(tag))


def number(value: int | float | Decimal, tag: str) -> str:
    """`value` with the language's digit grouping and decimal sign: "1,234.5", "1.234,5"."""
    return format_decimal(value, locale=parse_language_tag(tag))


def _local(value: datetime, zone: ZoneInfo | None) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"cannot show {value.isoformat()}: the datetime has no zone")
    return value.astimezone(zone) if zone is not None else value
