"""The store on SQLite and PostgreSQL: migrations, the newer-schema guard, counters, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from publisher.errors import StoreError
from publisher.store.database import (
    create_engine,
    open_store,
    put_setting,
    schema_state,
    setting,
    take_sequence_numbers,
)


def test_empty_store_is_brought_to_the_latest_schema(empty_store_url: str) -> None:
    engine = create_engine(empty_store_url)
    assert schema_state(engine).current is None
    engine.dispose()
    with open_store(empty_store_url) as store:
        state = schema_state(store.engine)
        assert state.current == state.head
        tables = set(sa.inspect(store.engine).get_table_names())
    assert {"articles", "counters", "settings", "alembic_version"} <= tables


def test_opening_an_up_to_date_store_again_changes_nothing(store_url: str) -> None:
    open_store(store_url).close()
    with open_store(store_url) as store:
        state = schema_state(store.engine)
    assert state.current == state.head


def test_store_with_a_newer_schema_is_refused(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"newer than this publisher knows.*upgrade publisher"):
        open_store(store_url)


def test_sequence_numbers_are_consecutive_and_never_reused(store_url: str) -> None:
    with open_store(store_url) as store:
        with store.transaction() as connection:
            first = take_sequence_numbers(connection, "publication", 3)
        with store.transaction() as connection:
            second = take_sequence_numbers(connection, "publication", 2)
    assert list(first) == [1, 2, 3]
    assert list(second) == [4, 5]


def test_a_rolled_back_transaction_gives_its_numbers_back(store_url: str) -> None:
    with open_store(store_url) as store:

        def crash_after_taking_numbers() -> None:
            with store.transaction() as connection:
                take_sequence_numbers(connection, "publication", 3)
                raise RuntimeError("crash mid-transaction")

        with pytest.raises(RuntimeError):
            crash_after_taking_numbers()
        with store.transaction() as connection:
            assert list(take_sequence_numbers(connection, "publication", 1)) == [1]


def test_settings_are_stored_and_replaced(store_url: str) -> None:
    with open_store(store_url) as store, store.transaction() as connection:
        assert setting(connection, "colour") is None
        put_setting(connection, "colour", "blue")
        put_setting(connection, "colour", "green")
        assert setting(connection, "colour") == "green"


def test_times_come_back_aware_in_utc(store_url: str) -> None:
    from publisher.store.schema import articles

    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=paris)
    row = {
        "guid": "g",
        "source": "a.md",
        "slug": "a",
        "status": "public",
        "url": "https://example.org/a/",
        "title": "A",
        "summary": "",
        "body_html": "",
        "authors": [],
        "categories": [],
        "tags": [],
        "published_at": moment,
        "updated_at": moment,
        "first_seen_at": moment,
        "content_hash": "0" * 64,
        "file_size": 1,
        "file_mtime_ns": 1,
    }
    with open_store(store_url) as store, store.transaction() as connection:
        connection.execute(articles.insert().values(**row))
        stored = connection.scalar(sa.select(articles.c.published_at))
    assert stored == moment
    assert stored.tzinfo == UTC


def test_naive_time_is_refused_by_the_store(store_url: str) -> None:
    from publisher.store.schema import UtcDateTime

    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(
            datetime(2026, 1, 1), sa.create_engine("sqlite://").dialect
        )


def test_sqlite_store_runs_in_wal_mode(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/wal.db"
    with open_store(url) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sqlite_store_in_a_missing_folder_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/nowhere/store.db")


def test_older_store_is_upgraded_in_place_keeping_its_data(empty_store_url: str) -> None:
    from alembic import command

    from publisher.store.database import _alembic_config

    engine = create_engine(empty_store_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
        connection.execute(sa.text("INSERT INTO settings (name, value) VALUES ('kept', 'yes')"))
    engine.dispose()
    with open_store(empty_store_url) as store:
        state = schema_state(store.engine)
        assert state.current == state.head != "0001"
        with store.transaction() as connection:
            assert setting(connection, "kept") == "yes"


def test_migrations_build_exactly_the_tables_the_code_uses(empty_store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from publisher.store.schema import SQLITE_NAME_INDEX, metadata

    def made_by_sqlite_full_text_search(change: tuple[object, ...]) -> bool:
        name = getattr(change[1], "name", "")
        return change[0] == "remove_table" and name.startswith(SQLITE_NAME_INDEX)

    def postgresql_name_words(change: tuple[object, ...]) -> bool:
        # The generated column the name search reads on PostgreSQL (migration 0021).
        return change[0] == "remove_column" and getattr(change[3], "name", "") == "name_words"

    with open_store(empty_store_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = [
            change
            for change in compare_metadata(context, metadata)
            # Indexes exist only in the migrations: the code never names them.
            if change[0] not in ("add_index", "remove_index")
            and not made_by_sqlite_full_text_search(change)
            and not postgresql_name_words(change)
        ]
    assert differences == []
