"""The query plans a piece of store code runs on: its statements caught as they run, then
explained by the database itself (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL).

For benchmarks and tests that show a query uses its index; nothing in the running site needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement and the plan the database chose for it, one line per step."""

    statement: str
    steps: tuple[str, ...]

    def uses(self, index: str) -> bool:
        """Whether any step names `index`."""
        return any(index in step for step in self.steps)


def plans_of(connection: Connection, run: Callable[[Connection], object]) -> list[Plan]:
    """The plan of each statement `run(connection)` executes, settings (SET) aside (reads
    only: it really runs)."""
    caught: list[tuple[str, Any]] = []
    with _catching(connection, caught):
        run(connection)
    return [_explained(connection, statement, parameters) for statement, parameters in caught]


@contextmanager
def _catching(connection: Connection, caught: list[tuple[str, Any]]) -> Iterator[None]:
    def catch(
        _conn: Connection,
        _cursor: object,
        statement: str,
        parameters: Any,
        _context: object,
        executemany: bool,
    ) -> None:
        if not executemany and not statement.lstrip().upper().startswith("SET "):
            caught.append((statement, parameters))  # a setting has no plan

    sa.event.listen(connection, "before_cursor_execute", catch)
    try:
        yield
    finally:
        sa.event.remove(connection, "before_cursor_execute", catch)


def _explained(connection: Connection, statement: str, parameters: Any) -> Plan:
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        steps = tuple(str(row[0]) for row in rows)
    else:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        steps = tuple(str(row[-1]) for row in rows)
    return Plan(statement, steps)
