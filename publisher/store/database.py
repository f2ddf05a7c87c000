"""The store's connection: SQLAlchemy Core over SQLite (WAL) or PostgreSQL, schema by Alembic.

Opening a store brings its schema up to date; settings and counters are the store's own rows.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher.errors import StoreError
from publisher.store.schema import counters, settings

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

MIGRATIONS = importlib.resources.files("publisher.store") / "migrations" / "versions"
_REVISION = re.compile(r"^(down_revision|revision) = (?:\"(\w+)\"|None)$", re.MULTILINE)
# Alembic's own bookkeeping table: one row, the revision the schema is at.
# PostgreSQL advisory lock key held while migrating: "publ" "mig " as a 64-bit integer.
MIGRATION_LOCK = 0x7075626C_6D696720
_VERSION_TABLE = sa.table("alembic_version", sa.column("version_num", sa.String))

SQLITE_BUSY_TIMEOUT_SECONDS = 30
_READ_ONLY = "publisher_read_only"  # an execution option: this transaction only reads


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None
    head: str


class Store:
    """An open store whose schema is at the version this code knows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; on SQLite it takes the write lock at once, so writers queue.

        A database failure (a corrupt file, a lost server) leaves as a StoreError naming the
        store; an IntegrityError stays itself, since callers resolve races with it.
        """
        try:
            with self.engine.begin() as connection:
                yield connection
        except sa.exc.IntegrityError:
            raise
        except sa.exc.DBAPIError as error:
            raise store_failure(self.engine, error) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only transaction: it never waits for a writer, nor makes one wait.

        On SQLite a plain BEGIN, which in WAL mode reads the last committed state while a
        writer holds its lock; on PostgreSQL a READ ONLY transaction, so a write in it fails.
        """
        try:
            with self.engine.connect() as connection:
                connection.execution_options(**{_READ_ONLY: True})
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                    yield connection
        except sa.exc.DBAPIError as error:
            raise store_failure(self.engine, error) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def store_failure(engine: Engine, error: sa.exc.DBAPIError) -> StoreError:
    """A one-line StoreError naming the store (without its password) and what went wrong."""
    detail = str(error.orig).strip()
    problem = detail.splitlines()[0] if detail else type(error.orig).__name__
    return StoreError(f"store {engine.url.render_as_string(hide_password=True)}: {problem}")


def open_store(url: str) -> Store:
    """Connect to the store at `url`, bring its schema up to date, refuse one that is newer."""
    engine = create_engine(url)
    try:
        upgrade_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return Store(engine)


def create_engine(url: str) -> Engine:
    """An engine for `url`: SQLite in WAL mode with a busy timeout, or PostgreSQL via psycopg 3."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not Path(database).parent.is_dir():
        raise StoreError(f"store {url}: folder {Path(database).parent} does not exist")
    engine = sa.create_engine(
        parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, pool_pre_ping=True
    )
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    sa.event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred and lazy).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def reads_only(connection: Connection) -> bool:
    """Whether `connection` is in a `Store.read` transaction, where nothing may be written."""
    return bool(connection.get_execution_options().get(_READ_ONLY, False))


def _begin_immediate(connection: Connection) -> None:
    # A writer takes the write lock at once, so writers queue instead of failing midway; a
    # reader (Store.read) begins deferred and never takes it.
    # Straight to the driver: through SQLAlchemy, this BEGIN cost a tenth of a ledger commit
    # (28 of 250 us, measured on the delivery ledger writer).
    begin = "BEGIN" if reads_only(connection) else "BEGIN IMMEDIATE"
    connection.connection.driver_connection.execute(begin)  # type: ignore[union-attr]


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", "publisher.store:migrations")
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest schema revision this code knows, read from the migration files' headers.

    Reading the two header lines of each file is far cheaper than importing Alembic, which
    every command would otherwise pay to find the schema already current.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for entry in MIGRATIONS.iterdir():
        if not entry.name.endswith(".py"):
            continue
        found = dict((key, value) for key, value in _REVISION.findall(entry.read_text("utf-8")))
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    [head] = revisions - parents
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the store's schema is at: None for an empty store."""
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            found = connection.scalar(sa.select(_VERSION_TABLE.c.version_num))
    except sa.exc.DBAPIError as error:
        # The whole family: "file is not a database" is a DatabaseError, not an OperationalError.
        raise store_failure(engine, error) from None
    return None if found is None else str(found)


def schema_state(engine: Engine) -> SchemaState:
    """The schema revision the store is at, and the newest this code knows."""
    return SchemaState(current=current_revision(engine), head=head_revision())


def upgrade_schema(engine: Engine) -> None:
    """Migrate the store to the newest schema; refuse a store made by a newer publisher.

    Alembic is imported only when an upgrade is due.
    """
    state = schema_state(engine)
    if state.current == state.head:
        return
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    scripts = ScriptDirectory.from_config(_alembic_config())
    if state.current is not None:
        try:
            scripts.get_revision(state.current)
        except CommandError:
            raise StoreError(
                f"the store's schema ({state.current}) is newer than this publisher knows "
                f"(up to {state.head}): upgrade publisher before using this store"
            ) from None
    log.info("upgrading the store schema from %s to %s", state.current or "empty", state.head)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Two processes starting on an empty database at once: the second waits here
                # until the first has committed, then finds the schema at head.
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            command.upgrade(_alembic_config(connection), "head")
    except sa.exc.DBAPIError as error:
        raise store_failure(engine, error) from None


def setting(connection: Connection, name: str) -> str | None:
    """A stored setting's value, or None."""
    value = connection.scalar(sa.select(settings.c.value).where(settings.c.name == name))
    return None if value is None else str(value)


def put_setting(connection: Connection, name: str, value: str) -> None:
    """Store a setting, replacing any earlier value."""
    updated = connection.execute(
        settings.update().where(settings.c.name == name).values(value=value)
    )
    if updated.rowcount == 0:
        connection.execute(settings.insert().values(name=name, value=value))


def take_sequence_numbers(connection: Connection, counter: str, count: int) -> range:
    """Reserve `count` consecutive numbers from a counter; the row lock orders concurrent takers."""
    last = connection.scalar(
        counters.update()
        .where(counters.c.name == counter)
        .values(value=counters.c.value + count)
        .returning(counters.c.value)
    )
    if last is None:
        raise StoreError(f"counter {counter!r} is missing from the store")
    return range(int(last) - count + 1, int(last) + 1)


def counter_value(connection: Connection, counter: str) -> int:
    """The last number a counter handed out (0 if it has none yet)."""
    value = connection.scalar(sa.select(counters.c.value).where(counters.c.name == counter))
    return int(value or 0)


def lock_counter(connection: Connection, counter: str) -> None:
    """Hold a counter's row until the transaction ends: PostgreSQL writers of it take turns.

    SQLite needs no lock: its writers already queue (BEGIN IMMEDIATE).
    """
    connection.execute(
        sa.select(counters.c.value).where(counters.c.name == counter).with_for_update()
    )
