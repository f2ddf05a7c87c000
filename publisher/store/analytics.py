"""Tracked links and their counts in the store: what each edition carried, hits per recipient
key, and the report made of them (unique and total per link, opens, link scanners apart)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from publisher.store.schema import edition_links, link_hits

OPEN_LINK = -1  # the open pixel's row in `link_hits`


def insert_edition_links(connection: Connection, edition_id: int, urls: Sequence[str]) -> None:
    """Keep the URLs a tracked edition's links carried, by link number."""
    if urls:
        connection.execute(
            edition_links.insert(),
            [{"edition_id": edition_id, "link": n, "url": url} for n, url in enumerate(urls)],
        )


def links_of_edition(connection: Connection, edition_id: int) -> tuple[str, ...]:
    """A tracked edition's link URLs by number (empty for an edition that tracks none)."""
    rows = connection.execute(
        sa.select(edition_links.c.url)
        .where(edition_links.c.edition_id == edition_id)
        .order_by(edition_links.c.link)
    ).scalars()
    return tuple(str(url) for url in rows)


def link_target(connection: Connection, edition_id: int, link: int) -> str | None:
    """The URL link `link` of an edition carried, or None."""
    url = connection.scalar(
        sa.select(edition_links.c.url).where(
            edition_links.c.edition_id == edition_id, edition_links.c.link == link
        )
    )
    return None if url is None else str(url)


def count_hit(
    connection: Connection,
    edition_id: int,
    link: int,
    recipient_key: str,
    subscriber_id: int | None,
    early: bool,
    now: datetime,
) -> None:
    """Count one hit: a new recipient key makes a row, a known one adds to its hits."""
    match = (
        link_hits.c.edition_id == edition_id,
        link_hits.c.link == link,
        link_hits.c.recipient_key == recipient_key,
    )
    counted = connection.execute(link_hits.update().where(*match).values(hits=link_hits.c.hits + 1))
    if counted.rowcount:
        return
    try:
        with connection.begin_nested():
            connection.execute(
                link_hits.insert().values(
                    edition_id=edition_id,
                    link=link,
                    recipient_key=recipient_key,
                    subscriber_id=subscriber_id,
                    hits=1,
                    early=early,
                    first_at=now,
                )
            )
    except IntegrityError:  # the same recipient's other click won the insert
        connection.execute(link_hits.update().where(*match).values(hits=link_hits.c.hits + 1))


@dataclass(frozen=True, slots=True)
class LinkCounts:
    """One link's clicks: by people (unique recipients, every click) and by link scanners."""

    link: int
    url: str
    unique: int
    total: int
    scanners: int


@dataclass(frozen=True, slots=True)
class EditionAnalytics:
    """An edition's clicks per link and opens; scanners are the recipients whose every link
    was followed within the scanner window of delivery."""

    links: tuple[LinkCounts, ...]
    unique_clickers: int
    scanners: int
    opens_unique: int
    opens_total: int


def edition_analytics(connection: Connection, edition_id: int) -> EditionAnalytics:
    """Read an edition's counts."""
    urls = links_of_edition(connection, edition_id)
    rows = connection.execute(
        sa.select(
            link_hits.c.link, link_hits.c.recipient_key, link_hits.c.hits, link_hits.c.early
        ).where(link_hits.c.edition_id == edition_id)
    ).all()
    clicks = [row for row in rows if row.link != OPEN_LINK]
    scanners = _scanner_keys(clicks, len(urls))
    per_link = []
    for number, url in enumerate(urls):
        mine = [row for row in clicks if row.link == number]
        people = [row for row in mine if row.recipient_key not in scanners]
        per_link.append(
            LinkCounts(
                number,
                url,
                unique=len(people),
                total=sum(row.hits for row in people),
                scanners=len(mine) - len(people),
            )
        )
    opens = [row for row in rows if row.link == OPEN_LINK]
    return EditionAnalytics(
        links=tuple(per_link),
        unique_clickers=len({row.recipient_key for row in clicks} - scanners),
        scanners=len(scanners),
        opens_unique=len(opens),
        opens_total=sum(row.hits for row in opens),
    )


def _scanner_keys(clicks: Iterable[Any], links: int) -> set[str]:
    early: dict[str, set[int]] = {}
    for row in clicks:
        if row.early:
            early.setdefault(row.recipient_key, set()).add(row.link)
    return {key for key, followed in early.items() if links and len(followed) >= links}


def forget_hits(connection: Connection, subscriber_id: int, keys: Iterable[tuple[int, str]]) -> int:
    """Cut every tie between a subscriber and their hits: the subscriber id goes, and each
    (edition, recipient key) of theirs becomes a random key. The counts stay."""
    changed = connection.execute(
        link_hits.update()
        .where(link_hits.c.subscriber_id == subscriber_id)
        .values(subscriber_id=None)
    ).rowcount
    for edition_id, key in keys:
        changed += connection.execute(
            link_hits.update()
            .where(link_hits.c.edition_id == edition_id, link_hits.c.recipient_key == key)
            .values(recipient_key=f"forgotten-{secrets.token_urlsafe(12)}"[:40])
        ).rowcount
    return int(changed)
