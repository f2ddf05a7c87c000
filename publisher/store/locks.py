"""The locks a daemon holds through the store: one active daemon per store, standbys marked.

SQLite: lock files beside the database (`<database><suffix>`); PostgreSQL: advisory locks. The
OS or the server frees each if its process dies, and `status` reads them without taking them.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x7075626C  # "publ"

STANDBY_LOCK_KEY = 0x70756273  # "pubs": held shared by every waiting standby

# On SQLite the same locks are files beside the store: `<database><suffix>`.
ACTIVE_LOCK_SUFFIX, STANDBY_LOCK_SUFFIX = ".scheduler.lock", ".standby.lock"


class ActiveLock(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class FileLock:
    """SQLite: an exclusive lock on a file beside the database, freed by the OS if we die."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.descriptor: int | None = None

    def try_acquire(self) -> bool:
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self.descriptor = descriptor
        return True

    def still_held(self) -> bool:
        return self.descriptor is not None

    def release(self) -> None:
        if self.descriptor is not None:
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)
            os.close(self.descriptor)
            self.descriptor = None


class AdvisoryLock:
    """PostgreSQL: a session advisory lock on a connection of its own; freed if we die."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: sa.Connection | None = None

    def try_acquire(self) -> bool:
        connection = self.engine.connect()
        try:
            acquired = bool(
                connection.scalar(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            )
            connection.commit()
        except sa.exc.DBAPIError:
            connection.close()
            return False
        if not acquired:
            connection.close()
            return False
        self.connection = connection
        return True

    def still_held(self) -> bool:
        if self.connection is None:
            return False
        try:
            held = self.connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND objid = :key AND pid = pg_backend_pid()"
                ),
                {"key": ADVISORY_LOCK_KEY},
            )
            self.connection.commit()
        except sa.exc.SQLAlchemyError:
            return False
        return bool(held)

    def release(self) -> None:
        if self.connection is not None:
            _unlock_and_end(self.connection, "pg_advisory_unlock", ADVISORY_LOCK_KEY)
            self.connection = None


class StandbyMark:
    """Held while a daemon waits as a standby, so `publisher status` can see one waiting.

    SQLite: a shared lock on a second file beside the database; PostgreSQL: a shared advisory
    lock on a key of its own. Both are freed by the OS or the server if the process dies.
    """

    def __init__(self, config: Config, engine: Engine) -> None:
        url = sa.make_url(config.store_url)
        sqlite = url.get_backend_name() == "sqlite"
        self.path = Path(f"{url.database}{STANDBY_LOCK_SUFFIX}") if sqlite else None
        self.engine = engine
        self.descriptor: int | None = None
        self.connection: sa.Connection | None = None

    def hold(self) -> None:
        try:
            if self.path is not None:
                self.descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self.descriptor, fcntl.LOCK_SH)
                return
            self.connection = self.engine.connect()
            self.connection.execute(
                sa.text("SELECT pg_advisory_lock_shared(:key)"), {"key": STANDBY_LOCK_KEY}
            )
            self.connection.commit()
        except (OSError, sa.exc.SQLAlchemyError) as error:
            # Only `status` reads the mark: a standby that cannot set it still waits.
            log.warning("standby: cannot mark this daemon as waiting: %s", error)
            self.release()

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # drops the shared lock
            self.descriptor = None
        if self.connection is not None:
            _unlock_and_end(self.connection, "pg_advisory_unlock_shared", STANDBY_LOCK_KEY)
            self.connection = None


def _unlock_and_end(connection: sa.Connection, unlock: str, key: int) -> None:
    """Release an advisory lock, then end its session.

    Unlocking first matters: the server ends an invalidated session a moment later, and a
    `status` run meanwhile would still see the lock held.
    """
    try:
        connection.execute(sa.text(f"SELECT {unlock}(:key)"), {"key": key})
        connection.commit()
    except sa.exc.SQLAlchemyError:
        pass  # the session is gone, and its lock with it
    connection.invalidate()
    connection.close()


def active_lock(config: Config, engine: Engine) -> ActiveLock:
    """The lock that makes one daemon per store the active one."""
    url = sa.make_url(config.store_url)
    if url.get_backend_name() == "sqlite":
        return FileLock(Path(f"{url.database}{ACTIVE_LOCK_SUFFIX}"))
    return AdvisoryLock(engine)


def daemon_is_active(config: Config, engine: sa.Engine) -> bool:
    """Whether a `publisher run` holds this store's active lock, found without taking it."""
    return _lock_is_held(config, engine, ACTIVE_LOCK_SUFFIX, ADVISORY_LOCK_KEY)


def daemon_is_waiting(config: Config, engine: sa.Engine) -> bool:
    """Whether a standby `publisher run` waits to take over, found through its mark."""
    return _lock_is_held(config, engine, STANDBY_LOCK_SUFFIX, STANDBY_LOCK_KEY, exclusive=True)


def _lock_is_held(
    config: Config, engine: sa.Engine, suffix: str, key: int, *, exclusive: bool = False
) -> bool:
    """Whether a daemon holds the lock file beside a SQLite store, or the advisory lock `key`
    of a PostgreSQL one."""
    url = sa.make_url(config.store_url)
    if url.get_backend_name() == "sqlite":
        return _file_is_locked(Path(f"{url.database}{suffix}"), exclusive=exclusive)
    with engine.connect() as connection:
        held = connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objid = :key AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"key": key},
        )
    return bool(held)


def _file_is_locked(path: Path, *, exclusive: bool = False) -> bool:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        # A shared lock conflicts with the active daemon's exclusive one; an exclusive one
        # with any standby's shared one.
        fcntl.flock(descriptor, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # also drops the shared lock, if it was taken
    return False
