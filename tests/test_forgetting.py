"""Forgetting a subscriber: nothing of the address left in the store, and no silent return."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.audience.forgetting import forget_address, import_suppression, is_forgotten
from publisher.audience.imports import import_csv
from publisher.audience.preferences import request_address_change, save_preferences
from publisher.audience.subscribers import (
    add_subscriber,
    check_address,
    list_subscribers,
)
from publisher.config import Config
from publisher.mail.delivery.send import send_edition
from publisher.mail.editions import create_edition
from publisher.site.gather import gather
from publisher.store.database import Store
from publisher.store.schema import deliveries, metadata
from publisher.store.statuses import SubscriberStatus
from tests.conftest import MovableClock, Site, run_publisher
from tests.test_preferences import preferences_path
from tests.test_web import ENVIRON, SECRET, Web, page_text, published, running

ADDRESS = "Ann.Leaving@Example.org"
NAME = "Annabel Leaving-Person"


def every_text_value(store: Store) -> Iterator[tuple[str, str, str]]:
    """(table, column, value) for every text, JSON and binary value in every table."""
    with store.transaction() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for column, value in row._mapping.items():
                    if isinstance(value, bytes):
                        yield table.name, column, value.decode("latin-1")
                    elif isinstance(value, str | dict | list):
                        yield table.name, column, str(value)


def mentions(store: Store, needle: str) -> list[tuple[str, str]]:
    return [
        (table, column)
        for table, column, value in every_text_value(store)
        if needle.casefold() in value.casefold()
    ]


@pytest.fixture
def config(site: Site, store_url: str) -> Config:
    return dataclasses.replace(site.config(), store_url=store_url)


def test_forgotten_address_appears_in_no_text_column_of_the_store(
    config: Config, store: Store, clock: MovableClock
) -> None:
    gather(store, config, clock)
    ann, _ = add_subscriber(store, ADDRESS, NAME, ["daily", "culture"], clock.now)
    add_subscriber(store, "bob@example.org", "Bob", ["daily"], clock.now)
    save_preferences(store, ann.id, ["daily"], NAME, clock.now + timedelta(hours=1), clock.now)
    request_address_change(store, ann.id, "ann.new@example.net")
    edition = create_edition(store, config, "daily", clock).edition
    assert edition is not None
    send_edition(store, config, edition.id, ENVIRON, clock=clock)
    with store.transaction() as connection:
        connection.execute(
            deliveries.update()
            .where(deliveries.c.subscriber_id == ann.id)
            .values(last_error=f"550 5.1.1 <{ADDRESS.lower()}>: mailbox full")
        )
    assert mentions(store, ADDRESS)  # the search finds it before
    assert mentions(store, NAME)
    assert forget_address(store, SECRET.encode(), ADDRESS.upper(), clock.now)
    assert mentions(store, ADDRESS) == []
    assert mentions(store, "ann.leaving") == []
    assert mentions(store, "ann.new@example.net") == []
    assert mentions(store, NAME) == []
    assert mentions(store, "bob@example.org")  # nobody else is touched
    statuses = {s.id: s.status for s in list_subscribers(store)}
    assert statuses[ann.id] == SubscriberStatus.FORGOTTEN
    with store.transaction() as connection:
        rows = connection.scalar(
            sa.select(sa.func.count()).where(deliveries.c.subscriber_id == ann.id)
        )
    assert rows == 1  # the ledger still adds up


def test_a_forgotten_address_cannot_be_imported_again(
    config: Config, store: Store, clock: MovableClock
) -> None:
    add_subscriber(store, ADDRESS, NAME, ["daily"], clock.now)
    forget_address(store, SECRET.encode(), ADDRESS, clock.now)
    suppression = import_suppression(SECRET.encode(), clock.now)
    text = f"email,name,digests\n{ADDRESS.lower()},Ann,daily\nnew@example.org,New,daily\n"
    report = import_csv(store, text, ["daily", "culture"], clock.now, suppression)
    assert report.added == 1
    assert report.errors == [
        f"line 2: {ADDRESS.lower()} was forgotten on request; only the "
        "person can subscribe again, from the web"
    ]
    assert mentions(store, ADDRESS) == []


def run(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(site.root, *args, PUBLISHER_SECRET=SECRET)


def test_forget_on_the_command_line_then_import_and_add_are_refused_with_a_reason(
    site: Site,
) -> None:
    assert run(site, "subscribers", "add", ADDRESS, "--name", NAME).returncode == 0
    result = run(site, "subscribers", "forget", ADDRESS)
    assert result.returncode == 0, result.stderr
    assert "forgot the subscriber" in result.stdout
    people = site.root / "people.csv"
    people.write_text(f"email,name,digests\n{ADDRESS},Ann,daily\n")
    imported = run(site, "subscribers", "import", str(people))
    assert imported.returncode == 1
    assert re.search(r"people\.csv:2: .* was forgotten on request", imported.stderr)
    added = run(site, "subscribers", "add", ADDRESS)
    assert added.returncode == 1
    assert "was forgotten on request" in added.stderr
    assert len(added.stderr.strip().splitlines()) == 1
    assert ADDRESS.lower() not in run(site, "subscribers", "list").stdout.lower()


def test_export_keeps_statuses_and_forgotten_hashes_across_a_move(
    site: Site, tmp_path: Path
) -> None:
    for address in ("stay@example.org", "left@example.org", "gone@example.org"):
        assert run(site, "subscribers", "add", address).returncode == 0
    run(site, "subscribers", "remove", "left@example.org")
    run(site, "subscribers", "forget", "gone@example.org")
    exported = run(site, "subscribers", "export").stdout
    assert "gone@example.org" not in exported
    moved = site.root / "moved.csv"
    moved.write_text(exported)
    other = site.config_path.read_text().replace("sqlite:///publisher.db", "sqlite:///moved.db")
    site.config_path.write_text(other)
    result = run(site, "subscribers", "import", str(moved))
    assert result.returncode == 0, result.stderr
    listed = run(site, "subscribers", "list").stdout
    assert re.search(r"stay@example\.org\s+confirmed", listed)
    assert re.search(r"left@example\.org\s+unsubscribed", listed)  # the suppression survived
    again = site.root / "again.csv"
    again.write_text("email\ngone@example.org\n")
    refused = run(site, "subscribers", "import", str(again))
    assert refused.returncode == 1
    assert "was forgotten on request" in refused.stderr


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    yield from running(published(site, None, clock), clock)


def test_the_preferences_page_links_a_forget_page_whose_button_forgets(web: Web) -> None:
    ann, _ = add_subscriber(web.store, ADDRESS, NAME, ["daily"], web.clock.now)
    page = web.client.get(preferences_path(ann)).text
    link = re.search(r'href="https://gazette\.example\.org(/forget/[^"]+)"', page)
    assert link is not None
    for _ in range(2):
        assert "Forget me?" in page_text(web.client.get(link.group(1)))
    assert mentions(web.store, ADDRESS)  # GET changed nothing
    response = web.press(link.group(1))
    assert response.status_code == 200
    assert "We have forgotten you" in page_text(response)
    assert mentions(web.store, ADDRESS) == []
    assert web.client.get(preferences_path(ann)).status_code == 404  # the old links are dead


def test_a_forgotten_person_may_subscribe_again_from_the_web_with_confirmation(web: Web) -> None:
    add_subscriber(web.store, ADDRESS, NAME, ["daily"], web.clock.now)
    forget_address(web.store, SECRET.encode(), ADDRESS, web.clock.now)
    back = web.confirmed(ADDRESS)
    assert back.email == "Ann.Leaving@example.org"  # the domain normalized
    assert not is_forgotten(web.store, SECRET.encode(), check_address(ADDRESS))


def test_import_keeps_a_bounced_status_and_refuses_an_unknown_one(
    store: Store, clock: MovableClock
) -> None:
    add_subscriber(store, "known@example.org", "K", ["daily"], clock.now)
    text = (
        "email,name,digests,status\n"
        "b@example.org,B,daily,bounced\n"
        "known@example.org,K,daily,unsubscribed\n"
        "c@example.org,C,daily,asleep\n"
    )
    report = import_csv(store, text, ["daily", "culture"], clock.now)
    assert report.suppressed == 2
    assert report.errors == ["line 4: unknown status 'asleep'"]
    statuses = {s.email: s.status for s in list_subscribers(store)}
    assert statuses == {"known@example.org": "unsubscribed", "b@example.org": "bounced"}
