"""Readers never wait for writers: a page answers while another process holds the write lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

from publisher.errors import StoreError
from publisher.store.articles import count_articles
from publisher.store.database import Store
from publisher.store.schema import settings
from publisher.store.statuses import ArticleStatus
from tests.conftest import MovableClock, Site
from tests.test_web import published, running

# Far below SQLite's busy timeout (30 s), which a reader taking the write lock would wait out.
DEADLINE_SECONDS = 10
T = TypeVar("T")


def _hold_the_write_lock(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that begins a write transaction, writes, and holds it until told."""
    code = textwrap.dedent(
        f"""
        import sqlite3, sys
        connection = sqlite3.connect({str(database)!r}, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO settings (name, value) VALUES ('writer', 'holding')")
        print("holding", flush=True)
        sys.stdin.readline()
        connection.execute("COMMIT")
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "holding"
        yield writer
    finally:
        writer.communicate("\n", timeout=30)


def _within_deadline(work: Callable[[], T]) -> T:
    """Run `work` in a thread; fail if it has not finished by the deadline."""
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
    thread.start()
    thread.join(DEADLINE_SECONDS)
    assert not thread.is_alive(), "the reader waited for the writer"
    assert results, "the reader failed"
    return results[0]


def test_a_page_answers_while_another_process_holds_the_write_lock(
    site: Site, clock: MovableClock
) -> None:
    config = published(site, None, clock)
    database = Path(sa.make_url(config.store_url).database or "")
    for web in running(config, clock):
        for _writer in _hold_the_write_lock(database):
            for path in ("/", "/articles/", "/categories/", "/archive/", "/sitemap.xml"):
                response = _within_deadline(partial(web.client.get, path))
                assert response.status_code == 200, path


def test_a_read_sees_the_last_committed_state_not_the_writers(
    site: Site, clock: MovableClock
) -> None:
    config = published(site, None, clock)
    database = Path(sa.make_url(config.store_url).database or "")
    for web in running(config, clock):
        for _writer in _hold_the_write_lock(database):
            with web.store.read() as connection:
                held = connection.scalar(
                    sa.select(settings.c.value).where(settings.c.name == "writer")
                )
                public = count_articles(connection, ArticleStatus.PUBLIC)
        assert held is None
        assert public > 0


def test_a_write_inside_a_read_fails_on_postgresql(postgres_url: str) -> None:
    from publisher.store.database import open_store

    with (
        open_store(postgres_url) as store,
        pytest.raises(StoreError, match="read-only"),
        store.read() as connection,
    ):
        connection.execute(settings.insert().values(name="x", value="y"))


def test_a_write_transaction_still_queues_writers(store: Store) -> None:
    with store.transaction() as connection:
        connection.execute(settings.insert().values(name="first", value="1"))
    with store.read() as connection:
        found = connection.scalar(sa.select(settings.c.value).where(settings.c.name == "first"))
    assert found == "1"
