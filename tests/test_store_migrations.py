"""Migration 0005 on a store already in use: deliveries kept, long lease owners, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from publisher.store.database import (
    _alembic_config,
    create_engine,
    current_revision,
    head_revision,
    open_store,
    upgrade_schema,
)
from publisher.store.schema import deliveries, rate_limits

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_upgrade_to_0005_keeps_the_ledger_and_takes_owners_of_any_length(
    empty_store_url: str,
) -> None:
    engine = create_engine(empty_store_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0004")
        connection.execute(
            sa.text(
                "INSERT INTO editions (id, digest, number, created_at, subject, article_guids, "
                "first_sequence, last_sequence, html, text, archive_html) VALUES "
                "(1, 'daily', 1, :now, 'S', '[]', 1, 1, '', '', '')"
            ),
            {"now": NOW.replace(tzinfo=None)},
        )
        connection.execute(
            sa.text(
                "INSERT INTO subscribers (id, email, email_key, name, status, token_nonce, "
                "created_at) VALUES (1, 'a@example.org', 'a@example.org', 'A', 'confirmed', "
                "'n', :now)"
            ),
            {"now": NOW.replace(tzinfo=None)},
        )
        connection.execute(
            sa.text(
                "INSERT INTO deliveries (id, edition_id, subscriber_id, email, name, status, "
                "lease_owner) VALUES (1, 1, 1, 'a@example.org', 'A', 'pending', 'host:1:ab')"
            )
        )
    engine.dispose()
    long_owner = "h" * 253 + ":4194304:0123abcd"
    with open_store(empty_store_url) as store, store.transaction() as connection:
        assert connection.scalar(sa.select(deliveries.c.lease_owner)) == "host:1:ab"
        connection.execute(deliveries.update().values(lease_owner=long_owner))
        assert connection.scalar(sa.select(deliveries.c.lease_owner)) == long_owner
        assert connection.scalar(sa.select(sa.func.count()).select_from(rate_limits)) == 0


def test_two_processes_migrating_an_empty_postgresql_database_at_once_both_succeed(
    postgres_url: str,
) -> None:
    import threading

    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def migrate() -> None:
        engine = create_engine(postgres_url)
        try:
            start.wait()
            upgrade_schema(engine)
        except BaseException as error:
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(postgres_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
