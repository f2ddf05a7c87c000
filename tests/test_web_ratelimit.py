"""The sign-up rate limit lives in the store: every app process and machine shares one count."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from publisher.audience.subscribers import find_subscriber
from publisher.store.database import Store, open_store
from publisher.store.schema import rate_limits
from publisher.web.app import create_app
from publisher.web.ratelimit import StoredRateLimit, stored_key
from tests.conftest import MovableClock, Site
from tests.test_web import ENVIRON, FROM_THE_SITE, Web, published

HOUR = timedelta(hours=1)
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a window starts here


def sign_up(client: TestClient, address: str) -> int:
    fields = {"email": address, "digest": "daily"}
    return client.post("/subscribe", data=fields).status_code


@pytest.fixture
def two_apps(site: Site, clock: MovableClock, store_url: str) -> Iterator[list[Web]]:
    """Two instances of the app, as behind a load balancer: separate engines, one store."""
    config = published(site, store_url, clock)
    with (
        TestClient(create_app(config, ENVIRON, clock), headers=FROM_THE_SITE) as first,
        TestClient(create_app(config, ENVIRON, clock), headers=FROM_THE_SITE) as second,
        open_store(config.store_url) as store,
    ):
        yield [Web(first, config, store, clock), Web(second, config, store, clock)]


def test_two_app_instances_share_one_sign_up_limit(two_apps: list[Web]) -> None:
    first, second = two_apps
    statuses = [sign_up((first, second)[n % 2].client, f"reader{n}@example.org") for n in range(10)]
    assert statuses == [200] * 10
    assert sign_up(first.client, "late@example.org") == 429
    assert sign_up(second.client, "later@example.org") == 429
    assert find_subscriber(first.store, "late@example.org") is None
    assert find_subscriber(first.store, "later@example.org") is None
    first.clock.advance(hours=1)
    assert sign_up(second.client, "tomorrow@example.org") == 200


def test_concurrent_sign_ups_through_two_instances_never_pass_the_limit(
    two_apps: list[Web],
) -> None:
    statuses: list[int] = []
    lock = threading.Lock()

    def flood(index: int) -> None:
        web = two_apps[index % 2]
        for number in range(6):
            fields = {"email": f"r{index}-{number}@example.org"}
            status = web.client.post("/subscribe", data={**fields, "digest": "daily"}).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=flood, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 10 + [429] * 14


# The limit itself ---------------------------------------------------------------------------


@pytest.fixture
def limit_store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as store:
        yield store


def rows(store: Store) -> list[tuple[str, str, int, int]]:
    with store.transaction() as connection:
        found = connection.execute(sa.select(rate_limits).order_by(*rate_limits.c))
        return [tuple(row) for row in found]  # type: ignore[misc]


def test_refused_requests_are_not_counted_and_retry_after_names_the_window_end(
    limit_store: Store,
) -> None:
    clock = MovableClock(START + timedelta(minutes=20))
    limit = StoredRateLimit(limit_store, "subscribe", 2, HOUR, clock)
    assert limit.check("192.0.2.1").allowed
    assert limit.check("192.0.2.1").allowed
    for _ in range(3):
        refused = limit.check("192.0.2.1")
        assert not refused.allowed
        assert refused.retry_after == 40 * 60
    assert limit.check("192.0.2.2").allowed
    assert rows(limit_store) == [
        ("subscribe", "192.0.2.1", int(START.timestamp()), 2),
        ("subscribe", "192.0.2.2", int(START.timestamp()), 1),
    ]


def test_ended_windows_are_pruned_and_a_new_window_starts_from_zero(limit_store: Store) -> None:
    clock = MovableClock(START)
    limit = StoredRateLimit(limit_store, "subscribe", 1, HOUR, clock)
    other = StoredRateLimit(limit_store, "other-form", 1, HOUR, clock)
    assert limit.check("192.0.2.1").allowed
    assert other.check("192.0.2.1").allowed
    clock.advance(minutes=59, seconds=59)
    assert not limit.check("192.0.2.1").allowed
    clock.advance(seconds=1)
    assert limit.check("192.0.2.9").allowed
    assert rows(limit_store) == [
        ("other-form", "192.0.2.1", int(START.timestamp()), 1),  # another scope prunes its own
        ("subscribe", "192.0.2.9", int((START + HOUR).timestamp()), 1),
    ]
    assert limit.check("192.0.2.1").allowed


def test_a_client_key_too_long_for_its_column_is_stored_as_a_digest(limit_store: Store) -> None:
    long_key = "client-" + "x" * 300
    limit = StoredRateLimit(limit_store, "subscribe", 1, HOUR, MovableClock(START))
    assert limit.check(long_key).allowed
    assert not limit.check(long_key).allowed
    assert limit.check(long_key[:-1] + "y").allowed
    assert len(stored_key(long_key)) == 64
    assert stored_key("2001:db8:1:2::/64") == "2001:db8:1:2::/64"
