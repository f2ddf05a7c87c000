"""The ledger's rows on SQLite and PostgreSQL: grouped commits, remaining kinds, the migration."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from publisher.mail.delivery.ledger import (
    LedgerWriter,
    Outcome,
    RemainingRows,
    claim_rows,
    remaining_rows,
)
from publisher.store.database import Store, create_engine, open_store
from publisher.store.schema import deliveries, editions, subscribers
from publisher.store.statuses import DeliveryStatus
from tests.conftest import MovableClock, Site
from tests.test_delivery import new_edition, subscribe


def test_store_from_before_retryable_rows_tells_them_from_hard_failures(
    empty_store_url: str,
) -> None:
    from alembic import command

    from publisher.store.database import _alembic_config

    engine = create_engine(empty_store_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0004")
        now = datetime(2026, 11, 25, tzinfo=UTC)
        connection.execute(
            editions.insert().values(
                id=1,
                digest="daily",
                number=1,
                created_at=now,
                subject="s",
                article_guids=[],
                first_sequence=1,
                last_sequence=1,
                html="",
                text="",
                archive_html="",
            )
        )
        for n, error in enumerate(
            ["gave up after 5 attempts: cannot connect", "answered 550 no such user"], 1
        ):
            connection.execute(
                subscribers.insert().values(
                    id=n,
                    email=f"{n}@x.org",
                    email_key=f"{n}@x.org",
                    name="A",
                    status="confirmed",
                    token_nonce="n",
                    created_at=now,
                )
            )
            connection.execute(
                deliveries.insert().values(
                    edition_id=1,
                    subscriber_id=n,
                    email=f"{n}@x.org",
                    name="A",
                    status="failed",
                    attempts=5,
                    last_error=error,
                )
            )
    engine.dispose()
    with open_store(empty_store_url) as store:
        assert remaining_rows(store, 1) == RemainingRows(retryable=1, failed=1)


def test_grouped_writer_commits_every_outcome_in_few_commits(
    site: Site, store: Store, clock: MovableClock
) -> None:
    subscribe(store, 30)
    edition_id = new_edition(site, store, clock)
    from publisher.mail.delivery.send import start_delivery

    start_delivery(store, edition_id, clock.now)
    claimed = claim_rows(store, edition_id, "me:1:x", clock.now, clock.now - clock.now, 30)
    writer = LedgerWriter(store, bounce_limit=3)
    commits: list[int] = []
    sa.event.listen(store.engine, "commit", lambda _connection: commits.append(1))
    tickets = [
        writer.record(
            Outcome(row, DeliveryStatus.SENT if n % 3 else DeliveryStatus.RETRYABLE, clock.now)
        )
        for n, row in enumerate(claimed)
    ]
    assert tickets == list(range(1, 31))
    writer.flush()
    for ticket in tickets:
        writer.wait_until_written(ticket)  # returns at once: every one is committed
    writer.close()
    # Outcomes recorded together are committed together, not one commit each.
    assert 1 <= len(commits) < len(tickets)
    with store.transaction() as connection:
        rows = connection.execute(
            sa.select(deliveries.c.status, deliveries.c.lease_owner, deliveries.c.sent_at)
        ).all()
    assert sorted(status for status, _, _ in rows).count(DeliveryStatus.SENT) == 20
    assert {owner for _, owner, _ in rows} == {None}
    assert remaining_rows(store, edition_id) == RemainingRows(retryable=10)
    assert DeliveryStatus.PENDING not in {status for status, _, _ in rows}


def test_writer_commits_an_outcome_asked_for_at_once_and_any_other_soon_after(
    site: Site, store: Store, clock: MovableClock
) -> None:
    subscribe(store, 2)
    edition_id = new_edition(site, store, clock)
    from publisher.mail.delivery.send import start_delivery

    start_delivery(store, edition_id, clock.now)
    first, second = claim_rows(store, edition_id, "me:1:x", clock.now, timedelta(0), 2)
    writer = LedgerWriter(store, bounce_limit=3)
    writer.GROUP_DELAY = 3600.0  # only a waiting sender can make this group due
    writer.hurry(
        writer.record(Outcome(first, DeliveryStatus.SENT, clock.now))
    )  # asked for, not waited for
    deadline = time.monotonic() + 30
    while remaining_rows(store, edition_id).pending == 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert remaining_rows(store, edition_id).pending == 1
    writer.close()

    writer = LedgerWriter(store, bounce_limit=3)  # the default delay: nobody waits
    writer.record(Outcome(second, DeliveryStatus.SENT, clock.now))
    deadline = time.monotonic() + 30
    while remaining_rows(store, edition_id).pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert remaining_rows(store, edition_id).pending == 0
    writer.close()
