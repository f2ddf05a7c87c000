"""Subscribers in the store: the hard bounces that end a subscription, and the queries the CLI,
the admin pages and the API page through: one page in id order, a search by address prefix or
words of a name, every row streamed, and the counts by status overall and per digest.

Every listing is paged by where the last page ended (`after`: an id, or for an address search
an address), in the order its index keeps, so a page costs the same at the millionth row as at
the first; each runs on an index (see migration 0015).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.database import reads_only
from publisher.store.schema import SQLITE_NAME_INDEX, subscriber_counts, subscribers, subscriptions
from publisher.store.statuses import SubscriberStatus

PAGE_SIZE = 50
STREAM_BATCH = 5_000  # rows fetched at a time from a server-side cursor
# On PostgreSQL the counts are rows of differences: fold them into one row per digest and
# status once this many have gathered.
FOLD_COUNTS_AFTER = 5_000
# A search's count is exact up to this; past it, shown as "more than" it (`count_found`).
FOUND_COUNT_LIMIT = 1_000
# An address prefix more addresses than this share is searched by walking the ids in order;
# with a status or digest filter, more than this divided by the share of the list the filter
# keeps (a walk then reads that many times more rows a match), up to the second number.
WALK_IDS_AFTER = 10_000
WALK_IDS_AFTER_AT_MOST = 50_000
_WORD = re.compile(r"\w+")

# Subscribers and deliveries ---------------------------------------------------------------


def count_hard_bounces(connection: Connection, subscriber_ids: Sequence[int], limit: int) -> None:
    """Count one hard bounce for each id (an id listed twice counts twice); a confirmed
    subscriber whose count reaches `limit` becomes bounced."""
    for subscriber_id in subscriber_ids:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(hard_bounces=subscribers.c.hard_bounces + 1)
        )
    connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id.in_(subscriber_ids),
            subscribers.c.hard_bounces >= limit,
            subscribers.c.status == SubscriberStatus.CONFIRMED,
        )
        .values(status=SubscriberStatus.BOUNCED)
    )


# Listing, searching, streaming ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A subscriber as a list, a search or an export shows them."""

    id: int
    email: str
    name: str
    status: str
    digests: tuple[str, ...]
    created_at: datetime
    confirmed_at: datetime | None = None

    @property
    def address_key(self) -> str:
        """The address as addresses are compared and ordered (`after` of an address search)."""
        return self.email.casefold()


@dataclass(frozen=True, slots=True)
class SubscriberFilter:
    """Which subscribers a listing shows: one status, one digest's, or all (None)."""

    status: str | None = None
    digest: str | None = None


EVERYONE = SubscriberFilter()

_LISTED = (
    subscribers.c.id,
    subscribers.c.email,
    subscribers.c.name,
    subscribers.c.status,
    subscribers.c.created_at,
    subscribers.c.confirmed_at,
)


def subscriber_page(
    connection: Connection,
    chosen: SubscriberFilter = EVERYONE,
    after: int = 0,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> list[SubscriberRow]:
    """Up to `limit` subscribers with ids above `after`, in id order (skipping `offset` of
    them first: numbered pages, which cost more the deeper they are; `after` costs nothing)."""
    if chosen.digest is None:
        query = _filtered(sa.select(*_LISTED), chosen).where(subscribers.c.id > after)
        return _with_digests(connection, _paged(query.order_by(subscribers.c.id), limit, offset))
    # One digest's: walked in the order of its index (digest, subscriber_id), so a page stops
    # after `limit` members instead of first listing every member.
    member = subscriptions.c.subscriber_id
    members = _filtered(
        sa.select(*_LISTED).select_from(
            subscriptions.join(subscribers, subscribers.c.id == member)
        ),
        SubscriberFilter(status=chosen.status),
    ).where(
        subscriptions.c.digest == chosen.digest,
        member > after,
        # The same bound again, on the other side of the join: a merge join then starts both
        # indexes at `after` instead of reading the subscribers' from their first id.
        subscribers.c.id > after,
    )
    return _with_digests(connection, _paged(members.order_by(member), limit, offset))


def search_subscribers(
    connection: Connection,
    text: str,
    chosen: SubscriberFilter = EVERYONE,
    limit: int = PAGE_SIZE,
) -> list[SubscriberRow]:
    """What a search box shows for `text`: the subscribers whose address starts with it (in
    address order), then those with a word in their name starting with each of its words (in
    id order), `limit` at most. Past those, the two searches below page on their own."""
    text = text.strip()
    found: dict[int, SubscriberRow] = {}
    if text and not any(character.isspace() for character in text):
        found |= {row.id: row for row in subscribers_by_address_prefix(connection, text, chosen)}
    if "@" not in text and len(found) < limit:
        by_name = subscribers_by_name_words(connection, text, chosen, limit=limit)
        found |= {row.id: row for row in by_name if row.id not in found}
    return list(found.values())[:limit]


def subscribers_by_address_prefix(
    connection: Connection,
    prefix: str,
    chosen: SubscriberFilter = EVERYONE,
    after: str = "",
    limit: int = PAGE_SIZE,
) -> list[SubscriberRow]:
    """Subscribers whose address starts with `prefix` (ignoring case), in address order, after
    the address `after` (a page's last `address_key`): the index gives them in that order, so
    a page costs the same for a prefix a hundred thousand share as for one only one has."""
    found = _address_range(connection, prefix)
    if found is None:
        return []
    key, in_range = found
    query = sa.select(*_LISTED).where(in_range)
    if after:
        query = query.where(key > after)
    return _with_digests(connection, _filtered(query, chosen).order_by(key).limit(limit))


def subscribers_by_name_words(
    connection: Connection,
    text: str,
    chosen: SubscriberFilter = EVERYONE,
    after: int = 0,
    limit: int = PAGE_SIZE,
) -> list[SubscriberRow]:
    """Subscribers with a word in their name starting with each word of `text` (ignoring
    case; on SQLite accents too), in id order."""
    words = _WORD.findall(text)
    if not words:
        return []
    query = sa.select(*_LISTED)
    order: sa.ColumnElement[int] = subscribers.c.id
    if connection.dialect.name == "postgresql":
        query = query.where(_name_words_condition(words))
    else:
        # Ordered by the index's own rowid, which FTS5 hands out in order: no sort.
        names = sa.table(SQLITE_NAME_INDEX, sa.column("rowid"))
        order = names.c.rowid
        query = query.join(names, names.c.rowid == subscribers.c.id).where(_fts5_match(words))
    if after:
        query = query.where(order > after)
    return _with_digests(connection, _filtered(query, chosen).order_by(order).limit(limit))


# A search box: an address prefix or words of a name, in id order ---------------------------


@dataclass(frozen=True, slots=True)
class SubscriberSearch:
    """What a search box and its filters ask for: `text` (the start of an address, or words
    of a name; empty for every subscriber), a status, a digest."""

    text: str = ""
    status: str | None = None
    digest: str | None = None

    @property
    def chosen(self) -> SubscriberFilter:
        """The search's status and digest."""
        return SubscriberFilter(self.status, self.digest)


def found_subscribers(
    connection: Connection,
    wanted: SubscriberSearch,
    after: int = 0,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> list[SubscriberRow]:
    """A page of what `wanted` finds, in id order: those whose address starts with its text or
    whose name has a word starting with each of its words, after the id `after`, skipping
    `offset`. Without text, `subscriber_page`.

    Each of the two searches gives only its first `offset + limit` ids in id order, so the
    page is among them: a search many match walks the ids in order and stops there, one few
    match takes its ids from its own index and sorts them (see `_search_sides`)."""
    if not wanted.text.strip():
        return subscriber_page(connection, wanted.chosen, after, limit, offset)
    _plan_for_these_values(connection)
    first = limit + offset
    sides = [
        sa.select(side.ids.order_by(side.ids.selected_columns[0]).limit(first).subquery().c[0])
        for side in _search_sides(connection, wanted, after)
    ]
    if not sides:
        return []
    found = (sa.union(*sides) if len(sides) > 1 else sides[0]).subquery("found")
    query: sa.Select[Any] = sa.select(*_LISTED).join_from(
        found, subscribers, subscribers.c.id == found.c[0]
    )
    return _with_digests(connection, _paged(query.order_by(found.c[0]), limit, offset))


def count_found(connection: Connection, wanted: SubscriberSearch) -> int:
    """How many subscribers `wanted` finds, exactly up to `FOUND_COUNT_LIMIT`; past it,
    `FOUND_COUNT_LIMIT + 1` ("more than"): counting every match of a text most addresses start
    with would read all of them. Without text, from the kept counts (always exact)."""
    if not wanted.text.strip():
        counts = status_counts(connection, wanted.digest)
        return counts.get(wanted.status, 0) if wanted.status else sum(counts.values())
    _plan_for_these_values(connection)
    found_sides = _search_sides(connection, wanted)
    if wanted.chosen == EVERYONE and any(side.walks_ids for side in found_sides):
        return FOUND_COUNT_LIMIT + 1  # more than `WALK_IDS_AFTER` share the address prefix
    # Each side's first ids, one side after the other: a side that alone finds more than the
    # limit settles it, and the other's index is not read at all.
    found: set[int] = set()
    for side in found_sides:
        found.update(connection.scalars(side.ids.limit(FOUND_COUNT_LIMIT + 1)))
        if len(found) > FOUND_COUNT_LIMIT:
            break
    return min(len(found), FOUND_COUNT_LIMIT + 1)


def subscribers_by_id(connection: Connection, ids: Sequence[int]) -> list[SubscriberRow]:
    """The subscribers with these ids (those that exist), in id order, with their digests."""
    if not ids:
        return []
    query = sa.select(*_LISTED).where(subscribers.c.id.in_(list(ids)))
    return _with_digests(connection, query.order_by(subscribers.c.id))


def _plan_for_these_values(connection: Connection) -> None:
    """On PostgreSQL, plan each of the transaction's statements for its own values. psycopg
    prepares a statement on its fifth run, and PostgreSQL then soon keeps one plan for any
    values; a search's best plan depends on them (how many share a prefix, which filter): at a
    million subscribers that one plan made a filtered count 62 ms instead of 30. Only here: the
    import's and the send's statements, alike from run to run, are faster with one plan."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


class _Side(NamedTuple):
    """The ids one index finds; `walks_ids`: found by walking every id in order instead."""

    ids: sa.Select[Any]
    walks_ids: bool = False


def _search_sides(connection: Connection, wanted: SubscriberSearch, after: int = 0) -> list[_Side]:
    """The ids above `after` that `wanted` finds, as one query per index searched, each with
    its status and digest filter: the addresses starting with its text (one word without
    spaces), and the names with its words (text without an @).

    An address prefix more than `WALK_IDS_AFTER` addresses share (counted on its index, up to
    that) is tested on each row walked in id order, away from its index: a page then reads
    at most a few hundred rows a match instead of sorting every match. SQLite's name index
    gives its ids in order already; PostgreSQL's planner chooses by the index's statistics."""
    text = wanted.text.strip()
    sides: list[_Side] = []
    if text and not any(character.isspace() for character in text):
        found = _address_range(connection, text)
        if found is not None:
            _, in_range = found
            if _shared_by_many(connection, in_range, _walk_after(connection, wanted.chosen)):
                # Walked in id order, each row tested: the key as an expression, off its index.
                unindexed = _address_range(connection, text, subscribers.c.email_key + "")
                walked = sa.select(subscribers.c.id).where(
                    unindexed[1] if unindexed else in_range, subscribers.c.id > after
                )
                sides.append(_Side(_filtered(walked, wanted.chosen), walks_ids=True))
            elif connection.dialect.name == "postgresql":
                # The planner weighs the range against the filters by their statistics (an
                # import of many rows ends with ANALYZE): one look-up of each row, or fewer.
                ranged_rows = sa.select(subscribers.c.id).where(in_range, subscribers.c.id > after)
                sides.append(_Side(_filtered(ranged_rows, wanted.chosen)))
            else:
                # The few ids of the range from its index, then each row by its id (its filters
                # apart, so SQLite, which has no statistics, walks no other index instead).
                ranged = subscribers.alias("ranged")
                few = sa.select(ranged.c.id).where(
                    ranged.c.id.in_(sa.select(subscribers.c.id).where(in_range)),
                    ranged.c.id > after,
                    _chosen_row(ranged.c.id, wanted.chosen),
                )
                sides.append(_Side(few))
    words = _WORD.findall(text)
    if "@" not in text and words:
        sides.append(_Side(_name_words_ids(connection, words, wanted.chosen, after)))
    return sides


def _shared_by_many(connection: Connection, in_range: sa.ColumnElement[bool], many: int) -> bool:
    """More than `many` addresses are in the range (counted on its index, up to that number
    only)."""
    some = sa.select(subscribers.c.id).where(in_range).limit(many + 1).subquery()
    return int(connection.scalar(sa.select(sa.func.count()).select_from(some)) or 0) > many


def _walk_after(connection: Connection, chosen: SubscriberFilter) -> int:
    """How many addresses a prefix must share to be walked in id order with `chosen`'s filter:
    a walk reads about `limit / (prefix's share x filter's share)` rows a page, so a filter that
    keeps a small share of the list (from the kept counts) makes a walk that much longer."""
    if chosen == EVERYONE:
        return WALK_IDS_AFTER
    counts = every_status_count(connection)
    everyone = sum(counts[""].values())
    kept = counts.get(chosen.digest or "", {})
    kept_count = kept.get(chosen.status, 0) if chosen.status else sum(kept.values())
    share = max(kept_count, 1) / max(everyone, 1)
    return min(int(WALK_IDS_AFTER / share), WALK_IDS_AFTER_AT_MOST)


def _address_range(
    connection: Connection, prefix: str, key: sa.ColumnElement[str] = subscribers.c.email_key
) -> tuple[sa.ColumnElement[str], sa.ColumnElement[bool]] | None:
    """The address key as its index orders it, and the range of keys starting with `prefix`
    (of `key`: an expression of the key instead is tested on each row, not found on the index)."""
    start = prefix.strip().casefold()
    if not start:
        return None
    if connection.dialect.name == "postgresql":
        # Byte order, whatever the database's collation: the range is exactly the prefix's.
        key = key.collate("C")
    following = _successor(start)
    if following is None:
        return key, key >= start
    return key, sa.and_(key >= start, key < following)


# PostgreSQL only: the words of the name, `to_tsvector('simple', name)`, a generated column
# (migration 0021) with its GIN index; not in `schema.subscribers`, which both databases share.
_NAME_WORDS: sa.ColumnElement[Any] = sa.literal_column(f"{subscribers.name}.name_words")


def _name_words_condition(words: list[str]) -> sa.ColumnElement[bool]:
    """On PostgreSQL: a name with a word starting with each of `words` (its GIN index)."""
    wanted = " & ".join(f"{word}:*" for word in words)
    return _NAME_WORDS.op("@@")(sa.func.to_tsquery(sa.literal_column("'simple'"), wanted))


def _name_words_ids(
    connection: Connection, words: list[str], chosen: SubscriberFilter, after: int
) -> sa.Select[Any]:
    """The `chosen` ids above `after` of names with a word starting with each of `words`."""
    if connection.dialect.name == "postgresql":
        query = sa.select(subscribers.c.id).where(_name_words_condition(words))
        return _filtered(query.where(subscribers.c.id > after), chosen)
    # In the name index's rowid order, which is the ids' (no sort); each row looked up only
    # for a filter.
    names = sa.table(SQLITE_NAME_INDEX, sa.column("rowid"))
    query = sa.select(names.c.rowid).where(_fts5_match(words), names.c.rowid > after)
    return query.where(_chosen_row(names.c.rowid, chosen))


def _chosen_row(
    subscriber_id: sa.ColumnElement[int], chosen: SubscriberFilter
) -> sa.ColumnElement[bool]:
    """The subscriber `subscriber_id` is `chosen`: looked up by its id for each row."""
    if chosen == EVERYONE:
        return sa.true()
    row = sa.select(subscribers.c.id).where(subscribers.c.id == subscriber_id)
    return _filtered(row, chosen).exists()


def _fts5_match(words: list[str]) -> sa.ColumnElement[bool]:
    wanted = " ".join(f'"{word}"*' for word in words)
    return sa.literal_column(SQLITE_NAME_INDEX).op("MATCH")(wanted)


def _paged(query: sa.Select[Any], limit: int, offset: int) -> sa.Select[Any]:
    return query.limit(limit).offset(offset or None)


def streamed_subscribers(
    connection: Connection,
    chosen: SubscriberFilter = EVERYONE,
    after: int = 0,
    batch_size: int | None = None,
) -> Iterator[SubscriberRow]:
    """Every chosen subscriber with an id above `after`, in id order, fetched `batch_size`
    rows at a time from a server-side cursor: memory stays flat however many there are. Run
    it in a transaction of its own (`Store.read`): the cursor is open while rows are used.
    `batch_size` defaults to `STREAM_BATCH`, read at each call."""
    batch_size = batch_size or STREAM_BATCH
    digests = _digests_joined(connection).label("digests")
    query = (
        _filtered(sa.select(*_LISTED, digests), chosen)
        .where(subscribers.c.id > after)
        .order_by(subscribers.c.id)
    )
    result = connection.execution_options(stream_results=True, yield_per=batch_size).execute(query)
    for subscriber_id, email, name, status, created_at, confirmed_at, digests in result:
        chosen_digests = tuple(sorted(digests.split())) if digests else ()
        yield SubscriberRow(
            subscriber_id, email, name, status, chosen_digests, created_at, confirmed_at
        )


def _digests_joined(connection: Connection) -> sa.ScalarSelect[Any]:
    """The row's subscriber's digests in one text, separated by spaces (digest names have
    none): one row a subscriber, each found on the subscriptions' primary key."""
    mine = subscriptions.c.subscriber_id == subscribers.c.id
    if connection.dialect.name == "postgresql":
        joined = sa.func.string_agg(subscriptions.c.digest, sa.literal_column("' '"))
    else:
        joined = sa.func.group_concat(subscriptions.c.digest, " ")
    return sa.select(joined).where(mine).scalar_subquery()


def _filtered(query: sa.Select[Any], chosen: SubscriberFilter) -> sa.Select[Any]:
    if chosen.status is not None:
        query = query.where(subscribers.c.status == chosen.status)
    if chosen.digest is not None:
        # Looked up for each row found (the subscriptions' primary key), never listed whole;
        # an alias of its own, apart from any join of the query to all of its digests.
        member = subscriptions.alias("member")
        query = query.where(
            sa.exists().where(
                member.c.subscriber_id == subscribers.c.id, member.c.digest == chosen.digest
            )
        )
    return query


def _with_digests(connection: Connection, query: sa.Select[Any]) -> list[SubscriberRow]:
    """The rows of `query` (the `_LISTED` columns), each with its digests."""
    rows = connection.execute(query).all()
    digests: dict[int, list[str]] = {}
    if rows:
        found = connection.execute(
            sa.select(subscriptions.c.subscriber_id, subscriptions.c.digest)
            .where(subscriptions.c.subscriber_id.in_([row.id for row in rows]))
            .order_by(subscriptions.c.subscriber_id, subscriptions.c.digest)
        )
        for subscriber_id, digest in found:
            digests.setdefault(subscriber_id, []).append(digest)
    return [
        SubscriberRow(
            row.id,
            row.email,
            row.name,
            row.status,
            tuple(digests.get(row.id, ())),
            row.created_at,
            row.confirmed_at,
        )
        for row in rows
    ]


def _successor(prefix: str) -> str | None:
    """The first string after every string that starts with `prefix`, or None if none is."""
    while prefix and ord(prefix[-1]) == 0x10FFFF:
        prefix = prefix[:-1]
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def compact_name_index(connection: Connection) -> None:
    """Rewrite SQLite's name index without the names taken out of it.

    FTS5 records a deletion as a new entry and drops the old one only when its segments are
    merged: after someone is forgotten, their name's words would stay in the index until then.
    PostgreSQL's GIN index loses dead entries at VACUUM, as the table loses its dead rows.
    """
    if connection.dialect.name == "sqlite":
        names = sa.table(SQLITE_NAME_INDEX, sa.column(SQLITE_NAME_INDEX))
        connection.execute(names.insert().values({SQLITE_NAME_INDEX: "optimize"}))


# Counts -----------------------------------------------------------------------------------


def status_counts(connection: Connection, digest: str | None = None) -> dict[str, int]:
    """Subscribers by status (each status, 0 when none): all of them, or one digest's."""
    return every_status_count(connection).get(digest or "", _no_counts())


def every_status_count(connection: Connection) -> dict[str, dict[str, int]]:
    """Subscribers by status overall (key '') and for each digest that has any; read from the
    counts the store keeps in step, so it costs the same at a million as at ten."""
    rows = connection.execute(
        sa.select(
            subscriber_counts.c.digest,
            subscriber_counts.c.status,
            sa.func.sum(subscriber_counts.c.count),
            sa.func.count(),
        ).group_by(subscriber_counts.c.digest, subscriber_counts.c.status)
    ).all()
    counts: dict[str, dict[str, int]] = {"": _no_counts()}
    for digest, status, total, _ in rows:
        counts.setdefault(digest, _no_counts())[status] = int(total)
    gathered = sum(int(row[3]) for row in rows)
    if gathered > max(FOLD_COUNTS_AFTER, len(rows)) and not reads_only(connection):
        fold_subscriber_counts(connection)
    return counts


def fold_subscriber_counts(connection: Connection) -> None:
    """Fold PostgreSQL's rows of differences into one row per digest and status.

    Safe beside writers: they only insert, and the rows folded are those this statement sees.
    SQLite keeps one row per digest and status already.
    """
    if connection.dialect.name != "postgresql":
        return
    gone = (
        sa.delete(subscriber_counts)
        .returning(
            subscriber_counts.c.digest, subscriber_counts.c.status, subscriber_counts.c.count
        )
        .cte("gone")
    )
    totals = (
        sa.select(gone.c.digest, gone.c.status, sa.func.sum(gone.c.count))
        .group_by(gone.c.digest, gone.c.status)
        .having(sa.func.sum(gone.c.count) != 0)
    )
    connection.execute(
        subscriber_counts.insert().from_select(["digest", "status", "count"], totals)
    )


def _no_counts() -> dict[str, int]:
    return dict.fromkeys(tuple(SubscriberStatus), 0)
