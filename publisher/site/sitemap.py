"""Sitemaps (sitemaps.org protocol 0.9): page URLs with their last change, as XML bytes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
# The protocol's limit for one file; a site past it lists its newest pages first.
MAX_URLS = 50_000


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    """One page: its absolute URL and when it last changed (None: unknown)."""

    url: str
    lastmod: datetime | None = None


def w3c_datetime(moment: datetime) -> str:
    """A moment as the W3C Datetime the protocol asks for, in UTC to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def sitemap_xml(entries: Iterable[SitemapEntry]) -> bytes:
    """A `<urlset>` of `entries`, each URL once (its first entry), at most `MAX_URLS`."""
    root = etree.Element(f"{{{NAMESPACE}}}urlset", nsmap={None: NAMESPACE})
    seen: set[str] = set()
    for entry in entries:
        if entry.url in seen or len(seen) >= MAX_URLS:
            continue
        seen.add(entry.url)
        url = etree.SubElement(root, f"{{{NAMESPACE}}}url")
        etree.SubElement(url, f"{{{NAMESPACE}}}loc").text = entry.url
        if entry.lastmod is not None:
            etree.SubElement(url, f"{{{NAMESPACE}}}lastmod").text = w3c_datetime(entry.lastmod)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def newest(moments: Iterable[datetime | None]) -> datetime | None:
    """The latest of `moments` that are known, or None."""
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None
