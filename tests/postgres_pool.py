"""PostgreSQL test databases that each test process keeps and refills between tests.

A database made for each test (`CREATE DATABASE ... TEMPLATE`, then `DROP DATABASE`) makes the
server create and unlink a thousand files or so: measured with perf during the store tests,
the kernel's inode allocation for those files took a third of the machine's CPU. A database
the last test used is instead emptied and given the rows the next test starts from (DELETE
and INSERT, no new file), provided nothing but rows changed in it: its tables, their options
and their planner statistics are compared with the template's first. One that differs (a test
dropped a table, switched autovacuum off, or ANALYZE ran) is dropped and copied from the
template again, as every database was before.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# What must be as in the template for a database to be refilled rather than made again: each
# relation with its kind and options, the row count the planner was last told (-1 until a
# table is first vacuumed or analyzed), and how many column statistics ANALYZE has kept.
_SHAPE = """
SELECT (
  SELECT string_agg(
    relname || ' ' || relkind::text || ' ' || coalesce(array_to_string(reloptions, ','), '')
      || ' ' || CASE WHEN relkind = 'r' THEN reltuples::text ELSE '' END,
    '; ' ORDER BY relname)
  FROM pg_class WHERE relnamespace = current_schema()::regnamespace
) || ' / ' || (SELECT count(*) FROM pg_stats WHERE schemaname = current_schema())
"""

_OTHER_CONNECTIONS_ENDED = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


@dataclass(frozen=True)
class Contents:
    """Every row of a database's tables and where each sequence stands: what a refill puts
    back. The tables are in dependency order (a row's references come before it)."""

    tables: tuple[sa.Table, ...]
    rows: tuple[tuple[dict[str, Any], ...], ...]
    sequences: tuple[tuple[str, int, bool], ...]  # name, value, whether nextval goes past it


def contents_of(url: str) -> Contents:
    metadata = sa.MetaData()
    with _engine(url).connect() as connection:
        metadata.reflect(connection)
        tables = tuple(metadata.sorted_tables)
        rows = tuple(_rows(connection, table) for table in tables)
        sequences = tuple(
            (name, last if last is not None else start, last is not None)
            for name, last, start in connection.exec_driver_sql(
                "SELECT sequencename, last_value, start_value FROM pg_sequences "
                "WHERE schemaname = current_schema()"
            )
        )
    return Contents(tables, rows, sequences)


def _rows(connection: sa.Connection, table: sa.Table) -> tuple[dict[str, Any], ...]:
    ordered = sa.select(table).order_by(*table.primary_key.columns)
    return tuple(dict(row._mapping) for row in connection.execute(ordered))


def refill(url: str, contents: Contents, shape: str | None = None) -> bool:
    """Replace every row of the database at `url` with `contents`, in one transaction, after
    ending any connection a test left open on it. With `shape`, only if the database still
    has it (see _SHAPE); whether it was refilled."""
    with _engine(url).begin() as connection:
        connection.exec_driver_sql(_OTHER_CONNECTIONS_ENDED)
        if shape is not None and connection.exec_driver_sql(_SHAPE).scalar_one() != shape:
            return False
        # The subscriber counts' insert triggers stand aside, as during an import: the
        # counts come with the rows. Their delete triggers do not, hence a second pass.
        # One string of statements each: a round trip each would cost more than the work.
        emptied = "; ".join(f'DELETE FROM "{table.name}"' for table in reversed(contents.tables))
        connection.exec_driver_sql(
            f"SELECT set_config('publisher.import_keeps_counts', 'on', true); {emptied}; {emptied}"
        )
        for table, rows in zip(contents.tables, contents.rows, strict=True):
            if rows:
                connection.execute(table.insert(), list(rows))
        if contents.sequences:
            connection.exec_driver_sql(
                "SELECT "
                + ", ".join(
                    f"setval('\"{name}\"', {value}, {str(called).lower()})"
                    for name, value, called in contents.sequences
                )
            )
    return True


class DatabasePool:
    """Copies of one template database, kept by a test process for one test at a time."""

    def __init__(self, admin: sa.Engine, template: str) -> None:
        self._admin = admin
        self._template = template
        self._free: list[str] = []
        self._made: list[str] = []
        with _engine(self._url(template)).connect() as connection:
            self._template_shape = str(connection.exec_driver_sql(_SHAPE).scalar_one())
        self._template_contents = contents_of(self._url(template))

    @contextmanager
    def database(self) -> Iterator[str]:
        """A database with the template's tables and rows, for the length of the block."""
        name = self._refilled() or self._copy_of_template()
        try:
            yield self._url(name)
        finally:
            self._free.append(name)

    def _refilled(self) -> str | None:
        """A database a finished test used, refilled; None if there is none or it changed."""
        if not self._free:
            return None
        name = self._free.pop()
        if refill(self._url(name), self._template_contents, self._template_shape):
            return name
        self._drop(name)
        return None

    def close(self) -> None:
        for name in list(self._made):
            self._drop(name)
        self._free.clear()
        self._admin.dispose()

    def _copy_of_template(self) -> str:
        name = f"publisher_test_{secrets.token_hex(6)}"
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        self._made.append(name)
        return name

    def _drop(self, name: str) -> None:
        _engines.pop(self._url(name), None)
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.remove(name)

    def _url(self, name: str) -> str:
        return self._admin.url.set(database=name).render_as_string(hide_password=False)


# One engine per database, without a pool: no connection of ours stays open between tests.
_engines: dict[str, sa.Engine] = {}


def _engine(url: str) -> sa.Engine:
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    if url not in _engines:
        _engines[url] = sa.create_engine(url, poolclass=sa.NullPool)
    return _engines[url]
