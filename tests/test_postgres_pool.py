"""The PostgreSQL test databases a test process reuses start each test as a new copy would."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from tests.conftest import (
    PUBLISHED_SAMPLE,
    MigratedTemplates,
    Site,
    _publish,
)
from tests.postgres_pool import Contents, contents_of, refill

# Without PUBLISHER_TEST_DATABASE_URL the pool's first database skips the test (fails in CI).
pytestmark = pytest.mark.postgres


@contextmanager
def pooled(templates: MigratedTemplates) -> Iterator[str]:
    yield from templates.postgres_copy()


def rows_and_sequences(contents: Contents) -> tuple[object, ...]:
    return contents.rows, contents.sequences


def test_a_refill_leaves_the_rows_and_sequences_it_was_given_and_no_others(
    site: Site, migrated_templates: MigratedTemplates
) -> None:
    with pooled(migrated_templates) as url:
        fresh = contents_of(url)
        PUBLISHED_SAMPLE.copy_into(site, url)  # a refill with the published sample's rows
        published = PUBLISHED_SAMPLE.postgres_contents()
        assert rows_and_sequences(contents_of(url)) == rows_and_sequences(published)
        _publish(dataclasses.replace(site.config(), store_url=url))  # new rows on top
        assert rows_and_sequences(contents_of(url)) != rows_and_sequences(published)
        refill(url, fresh)
        assert rows_and_sequences(contents_of(url)) == rows_and_sequences(fresh)


@pytest.mark.parametrize(
    "change",
    [
        "DROP TABLE events",
        "ALTER TABLE subscribers SET (autovacuum_enabled = off)",
        "ANALYZE subscribers",
    ],
)
def test_a_database_changed_beyond_its_rows_is_made_again(
    change: str, migrated_templates: MigratedTemplates
) -> None:
    with pooled(migrated_templates) as url:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql(change)
        engine.dispose()
    with pooled(migrated_templates) as again:
        assert again != url
        engine = sa.create_engine(again)
        with engine.connect() as connection:
            assert "events" in sa.inspect(connection).get_table_names()
            assert connection.exec_driver_sql(
                "SELECT reloptions, reltuples FROM pg_class WHERE relname = 'subscribers'"
            ).one() == (None, -1)
        engine.dispose()
