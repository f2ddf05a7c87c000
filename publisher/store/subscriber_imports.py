"""Subscribers written a batch at a time, for `subscribers import`: the stored state of a
batch's addresses read at once, new rows inserted in one statement, names, digests and
suppressions changed in one statement each; and each import run recorded, so one that was
killed before its end is known.

A batch travels to the database as one JSON array (`json_each` on SQLite,
`jsonb_array_elements` on PostgreSQL): one statement, whatever the batch's size, instead of
one per row.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from publisher.store.schema import (
    UtcDateTime,
    subscriber_import_inserting,
    subscriber_imports,
    subscribers,
    subscriptions,
)
from publisher.store.statuses import SubscriberStatus

Item = Callable[[int], sa.ColumnElement[str]]  # the text at one position of a JSON item


@dataclass(frozen=True, slots=True)
class StoredSubscriber:
    """What an import needs to know of a subscriber that is already stored."""

    id: int
    status: str
    name: str
    digests: frozenset[str]


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    """A row an import adds."""

    email: str
    key: str
    name: str
    status: str
    token_nonce: str
    digests: tuple[str, ...]


def stored_subscribers(connection: Connection, keys: Sequence[str]) -> dict[str, StoredSubscriber]:
    """The stored subscribers with these address keys, by key; on PostgreSQL their rows are
    locked until the transaction ends, so nobody changes them between reading and writing."""
    found: dict[str, tuple[int, str, str]] = {}
    query = sa.select(
        subscribers.c.email_key, subscribers.c.id, subscribers.c.status, subscribers.c.name
    ).where(_among(connection, subscribers.c.email_key))
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    for key, subscriber_id, status, name in connection.execute(query, {"items": list(keys)}).all():
        found[key] = (subscriber_id, status, name)
    digests = _digests_of(connection, [subscriber_id for subscriber_id, _, _ in found.values()])
    return {
        key: StoredSubscriber(
            subscriber_id, status, name, frozenset(digests.get(subscriber_id, ()))
        )
        for key, (subscriber_id, status, name) in found.items()
    }


class EncodedSubscriber(NamedTuple):
    """A new subscriber as `insert_encoded_subscribers` takes it: `item` is the row as
    `encoded_subscriber` writes it, made by whichever process checked the row."""

    key: str
    status: str
    digests: tuple[str, ...]
    item: str


def encoded_subscriber(new: NewSubscriber) -> str:
    """A new subscriber's row as one JSON text (its digests aside): pure, so the processes
    that check an import's rows make it, not the one that writes them."""
    return json.dumps([new.email, new.key, new.name, new.status, new.token_nonce])


def insert_subscribers(
    connection: Connection, added: Sequence[NewSubscriber], now: datetime
) -> dict[str, int]:
    """Insert new subscribers with their digests; returns the new ids by key. A key someone
    else inserted meanwhile (a sign-up on PostgreSQL) is left out: look it up again."""
    encoded = [
        EncodedSubscriber(new.key, new.status, new.digests, encoded_subscriber(new))
        for new in added
    ]
    return insert_encoded_subscribers(connection, encoded, now)


def insert_encoded_subscribers(
    connection: Connection, added: Sequence[EncodedSubscriber], now: datetime
) -> dict[str, int]:
    """`insert_subscribers` of subscribers already encoded. Their counts, and on SQLite their
    names' index, are added with one statement each instead of by the insert triggers row by
    row (migration 0018)."""
    if not added:
        return {}
    items = f"[{','.join(new.item for new in added)}]"
    with _counted_here(connection):
        ids = _inserted_ids(connection, {"items": items, "now": now})
        # The ids by status and digests first: a handful of groups, whatever the batch's size.
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for new in added:
            new_id = ids.get(new.key)
            if new_id is not None:
                groups.setdefault((new.status, new.digests), []).append(new_id)
        ids_by_digest: dict[str, list[int]] = {}
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        for (status, digests), group in groups.items():
            counts["", status] += len(group)
            for digest in digests:
                ids_by_digest.setdefault(digest, []).extend(group)
                counts[digest, status] += len(group)
        dialect = connection.dialect.name
        if ids_by_digest:
            connection.execute(_SUBSCRIBE[dialect], {"ids": json.dumps(ids_by_digest)})
        if counts:
            added_counts = json.dumps([[*group, number] for group, number in counts.items()])
            connection.execute(_ADD_COUNTS[dialect], {"counts": added_counts})
        if dialect == "sqlite":
            connection.execute(_INDEX_NEW_NAMES, {"ids": json.dumps(list(ids.values()))})
    return ids


def _inserted_ids(connection: Connection, parameters: dict[str, Any]) -> dict[str, int]:
    """Insert the batch's rows; the new ids by key, without the keys stored meanwhile.

    On PostgreSQL a plain INSERT first, in a savepoint: the batch's stored keys were just read
    and locked, so only a sign-up made since can collide, and a plain insert costs the server
    less than `ON CONFLICT` (no look-up before each row, no second WAL record to confirm its
    speculative insertion: 17-28% of the subscribers' INSERT, measured). Should one collide,
    the savepoint is rolled back and the batch inserted with `ON CONFLICT DO NOTHING`.
    """
    if connection.dialect.name == "postgresql":
        try:
            with connection.begin_nested():
                return dict(
                    connection.execute(_insert_statement(connection, False), parameters).all()
                )
        except sa.exc.IntegrityError:
            pass
    return dict(connection.execute(_insert_statement(connection, True), parameters).all())


def _insert_statement(connection: Connection, on_conflict: bool) -> sa.Insert:
    items, item = _json_items(connection)
    at = sa.bindparam("now", type_=UtcDateTime)
    status = item(3)
    rows = (
        sa.select(
            item(0),
            item(1),
            item(2),
            status,
            item(4),
            sa.literal(0),
            at,
            sa.case((status == SubscriberStatus.CONFIRMED, at)),
            sa.case((status == SubscriberStatus.UNSUBSCRIBED, at)),
        )
        .select_from(items)
        .where(sa.true())  # SQLite reads "ON CONFLICT" as a join's ON without a WHERE
    )
    columns = [
        "email",
        "email_key",
        "name",
        "status",
        "token_nonce",
        "hard_bounces",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
    ]
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(subscribers).from_select(columns, rows)
    if on_conflict:
        statement = statement.on_conflict_do_nothing(index_elements=["email_key"])
    return statement.returning(subscribers.c.email_key, subscribers.c.id)


# While a batch inserts its new rows, the insert triggers of `subscribers` and
# `subscriptions` stand aside (migration 0018): on SQLite while `subscriber_import_inserting`
# has a row, written and deleted in the batch's transaction; on PostgreSQL while this setting
# of the transaction is 'on'.
_POSTGRESQL_INSERTING = "publisher.import_keeps_counts"


@contextmanager
def _counted_here(connection: Connection) -> Iterator[None]:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.set_config(_POSTGRESQL_INSERTING, "on", True)))
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.set_config(_POSTGRESQL_INSERTING, "off", True)))
        return
    connection.execute(subscriber_import_inserting.insert().values(inserting=1))
    try:
        yield
    finally:
        connection.execute(subscriber_import_inserting.delete())


# Each new subscriber's digests: `ids` is a JSON object of the new ids by digest.
_SUBSCRIBE = {
    "sqlite": sa.text(
        "INSERT INTO subscriptions (subscriber_id, digest) "
        "SELECT subscriber.value, chosen.key FROM json_each(:ids) AS chosen, "
        "json_each(chosen.value) AS subscriber"
    ),
    "postgresql": sa.text(
        "INSERT INTO subscriptions (subscriber_id, digest) "
        "SELECT subscriber.value::integer, chosen.key "
        "FROM jsonb_each(CAST(:ids AS jsonb)) AS chosen, "
        "jsonb_array_elements_text(chosen.value) AS subscriber"
    ),
}

# Counts added, as a JSON array of [digest, status, count] ('' for everyone): SQLite adds
# them to its one row per digest and status; PostgreSQL inserts rows of differences, as its
# triggers do.
_ADD_COUNTS = {
    "sqlite": sa.text(
        "INSERT INTO subscriber_counts (digest, status, count) "
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        "json_extract(value, '$[2]') FROM json_each(:counts) WHERE true "
        "ON CONFLICT (digest, status) DO UPDATE SET count = count + excluded.count"
    ),
    "postgresql": sa.text(
        "INSERT INTO subscriber_counts (digest, status, count) "
        "SELECT value ->> 0, value ->> 1, (value ->> 2)::bigint "
        "FROM jsonb_array_elements(CAST(:counts AS jsonb))"
    ),
}
_INDEX_NEW_NAMES = sa.text(
    "INSERT INTO subscriber_names (rowid, name) SELECT id, name FROM subscribers "
    "WHERE id IN (SELECT value FROM json_each(:ids))"
)


def replace_digests(connection: Connection, digests_by_id: Mapping[int, Sequence[str]]) -> None:
    """Give each subscriber exactly these digests."""
    if digests_by_id:
        connection.execute(
            subscriptions.delete().where(_among(connection, subscriptions.c.subscriber_id)),
            {"items": list(digests_by_id)},
        )
    _add_subscriptions(
        connection,
        [
            (subscriber_id, digest)
            for subscriber_id, chosen in digests_by_id.items()
            for digest in chosen
        ],
    )


def rename_subscribers(connection: Connection, names_by_id: Mapping[int, str]) -> None:
    """Give each subscriber this name."""
    if names_by_id:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == sa.bindparam("subscriber_id"))
            .values(name=sa.bindparam("new_name")),
            [{"subscriber_id": key, "new_name": name} for key, name in names_by_id.items()],
        )


def suppress_subscribers(
    connection: Connection, statuses_by_id: Mapping[int, str], now: datetime
) -> None:
    """Set each confirmed or pending subscriber to the status given (unsubscribed, bounced,
    complained); any other status stays as it is."""
    for status in set(statuses_by_id.values()):
        chosen = [key for key, wanted in statuses_by_id.items() if wanted == status]
        left_at = now if status == SubscriberStatus.UNSUBSCRIBED else None
        connection.execute(
            subscribers.update()
            .where(
                _among(connection, subscribers.c.id),
                subscribers.c.status.in_((SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING)),
            )
            .values(status=status, unsubscribed_at=left_at),
            {"items": chosen},
        )


# On SQLite an import's connection keeps this much of the file in memory (KiB, as
# `cache_size` takes a negative number): the address index is written in random order, and
# with SQLite's default 2 MB every batch reads most of its pages back from the OS.
SQLITE_IMPORT_CACHE_KIB = 64 * 1024
# ... and checkpoints its WAL into the file every this many pages (40 MB) rather than every
# 1,000 (4 MB): fewer, longer checkpoints. Commits stay as durable as any other (WAL,
# synchronous=NORMAL).
SQLITE_IMPORT_CHECKPOINT_PAGES = 10_000


def prepare_for_import(connection: Connection) -> None:
    """Set up `connection` (SQLite's; nothing on PostgreSQL) for writing many batches."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
        connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {SQLITE_IMPORT_CHECKPOINT_PAGES}")


# An import that wrote at least this many rows ends by refreshing the planner's statistics of
# the tables it filled: the operator's first search comes right after it, before autovacuum's
# first pass (PostgreSQL's search "davi" with a digest took 112.8 ms a page right after the
# import of a million, 23-28 ms once analyzed).
ANALYZE_AFTER_ROWS = 10_000


def analyze_imported_tables(connection: Connection) -> None:
    """Refresh the planner's statistics of `subscribers` and `subscriptions` on PostgreSQL;
    nothing on SQLite, whose plans do not rely on statistics it has never gathered."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE subscribers, subscriptions")


# Import runs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportRun:
    """One `subscribers import`: finished, or stopped (killed) or still running."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    rows_done: int


def start_import_run(connection: Connection, source: str, now: datetime) -> int:
    """Record that an import of `source` starts; returns its id."""
    return int(
        connection.execute(
            subscriber_imports.insert()
            .values(source=source, started_at=now, rows_done=0)
            .returning(subscriber_imports.c.id)
        ).scalar_one()
    )


def record_import_progress(connection: Connection, run_id: int, rows_done: int) -> None:
    """Record, in the transaction that wrote them, that the run's first `rows_done` rows are
    imported."""
    connection.execute(
        subscriber_imports.update()
        .where(subscriber_imports.c.id == run_id)
        .values(rows_done=rows_done)
    )


def finish_import_run(connection: Connection, run_id: int, source: str, now: datetime) -> None:
    """Record that the run ended; earlier runs of the same source that stopped are finished
    by it too (every rule of an import gives the same result applied twice)."""
    connection.execute(
        subscriber_imports.update()
        .where(
            subscriber_imports.c.finished_at.is_(None),
            sa.or_(subscriber_imports.c.id == run_id, subscriber_imports.c.source == source),
            subscriber_imports.c.id <= run_id,
        )
        .values(finished_at=now)
    )


def unfinished_import_runs(connection: Connection, source: str | None = None) -> list[ImportRun]:
    """Import runs that never recorded their end (killed, or running now), oldest first;
    only those of `source` when given."""
    query = sa.select(
        subscriber_imports.c.id,
        subscriber_imports.c.source,
        subscriber_imports.c.started_at,
        subscriber_imports.c.finished_at,
        subscriber_imports.c.rows_done,
    ).where(subscriber_imports.c.finished_at.is_(None))
    if source is not None:
        query = query.where(subscriber_imports.c.source == source)
    rows = connection.execute(query.order_by(subscriber_imports.c.id))
    return [ImportRun(*row) for row in rows]


# Batches as JSON --------------------------------------------------------------------------


def _add_subscriptions(connection: Connection, pairs: Sequence[tuple[int, str]]) -> None:
    if not pairs:
        return
    items, item = _json_items(connection)
    rows = sa.select(sa.cast(item(0), sa.Integer), item(1)).select_from(items)
    connection.execute(
        subscriptions.insert().from_select(["subscriber_id", "digest"], rows),
        {"items": json.dumps(pairs)},
    )


def _json_items(connection: Connection) -> tuple[sa.FromClause, Item]:
    """The JSON array bound as `items`, one row per item, and the text at a position of one."""
    if connection.dialect.name == "postgresql":
        array = sa.cast(sa.bindparam("items"), postgresql.JSONB)
        items = sa.func.jsonb_array_elements(array).table_valued("value").alias("item")
        return items, lambda position: items.c.value.op("->>")(sa.literal_column(str(position)))
    items = sa.func.json_each(sa.bindparam("items")).table_valued("value").alias("item")
    return items, lambda position: sa.func.json_extract(items.c.value, f"$[{position}]")


def _digests_of(connection: Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if ids:
        rows = connection.execute(
            sa.select(subscriptions.c.subscriber_id, subscriptions.c.digest).where(
                _among(connection, subscriptions.c.subscriber_id)
            ),
            {"items": list(ids)},
        ).all()
        for subscriber_id, digest in rows:
            found.setdefault(subscriber_id, []).append(digest)
    return found


def _among(connection: Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """`column` is one of the values bound as `items` (a list): one parameter however many,
    so the statement is compiled once, not once per length of the list."""
    if connection.dialect.name == "postgresql":
        array = postgresql.ARRAY(column.type)
        return column == sa.any_(sa.bindparam("items", type_=array))
    values = sa.func.json_each(sa.bindparam("items", type_=sa.JSON)).table_valued("value")
    return column.in_(sa.select(values.c.value))
