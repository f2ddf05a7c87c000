"""The dashboard in Debian's chromium, served by `publisher serve` on loopback.

An operator signs in, sees the overview's charts, finds a subscriber, unsubscribes them and
sees the event; a send running in another process shows its progress on the edition page;
a wrong password, an expired session and a forged form token are refused; and every page at
375 px fits the screen with no axe-core violation, in the light theme and the dark one.
Screenshots go to `test-artifacts/admin-*.png`.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page

from publisher.audience.subscribers import add_subscriber
from publisher.config import Config
from publisher.mail.editions import create_edition
from publisher.operators.accounts import add_user
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import open_store
from publisher.store.schema import admin_sessions
from tests.conftest import (
    REPO,
    MovableClock,
    RecordingHandler,
    Site,
    free_port,
    publisher_environment,
    save_screenshot,
)
from tests.test_web_browser import ENVIRON, serving, sideways_scroll

ADMIN, PASSWORD = "alice", "correct horse battery"
DEADLINE_SECONDS = 30
READERS = 12
PUBLISHER = (sys.executable, "-m", "publisher")


@dataclass
class LiveDashboard:
    site: Site
    config: Config
    url: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDashboard]:
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "config.toml", root / "config.toml")
    site = Site(root, root / "config.toml")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace("https://gazette.example.org/", url, 1))
    config = site.config()
    clock = MovableClock()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        build(store, config)
        add_user(store, ADMIN, PASSWORD, clock())
        for number in range(READERS):
            add_subscriber(
                store, f"reader{number:02d}@example.org", f"Reader {number}", ("daily",), clock()
            )
        add_subscriber(store, "robin.quay@example.org", "Robin Quay", ("culture",), clock())
        create_edition(store, config, "daily", clock)
        create_edition(store, config, "culture", clock)
    with serving(site.config_path, port):
        yield LiveDashboard(site, config, url)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 960, "height": 900})
    yield opened
    opened.close()


def screenshot(page: Page, step: str) -> None:
    save_screenshot(page, f"admin-{step}")


def sign_in(page: Page, live: LiveDashboard, password: str = PASSWORD) -> None:
    page.goto(f"{live.url}admin/")
    page.fill("#name", ADMIN)
    page.fill("#password", password)
    page.click("button[type=submit]")


def heading(page: Page) -> str:
    return page.locator("h1").first.inner_text().strip()


def test_operator_sees_charts_finds_a_subscriber_unsubscribes_them_and_sees_the_event(
    live: LiveDashboard, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, live)
    assert heading(page) == "Overview"
    assert page.locator("figure.chart svg[role=img]").count() == 2
    assert page.locator("figure.chart table").count() == 2
    screenshot(page, "overview")
    page.click("text=Subscribers")
    page.fill("#q", "robin quay")
    page.click("button:has-text('Search')")
    assert "1 found" in page.locator("[role=status]").inner_text()
    page.click("text=robin.quay@example.org")
    screenshot(page, "subscriber")
    page.click("text=Unsubscribe")
    assert heading(page) == "Unsubscribe?"
    page.click("button:has-text('Unsubscribe')")
    assert page.locator("[role=status]").inner_text() == "Unsubscribed."
    assert "unsubscribed" in page.locator("dl.facts").inner_text()
    events = page.locator("table:has(caption:has-text('Events'))").inner_text()
    assert f"by {ADMIN}" in events
    screenshot(page, "unsubscribed")


def test_a_wrong_password_is_refused(live: LiveDashboard, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, live, "not the password")
    assert heading(page) == "Sign in"
    assert "do not match" in page.locator("[role=alert]").inner_text()


def test_an_expired_session_is_refused(live: LiveDashboard, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, live)
    assert heading(page) == "Overview"
    with open_store(live.config.store_url) as store, store.transaction() as connection:
        # As if the session's lifetime had passed: the server's clock is the real one.
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        connection.execute(sa.update(admin_sessions).values(expires_at=long_ago))
    page.reload()
    assert heading(page) == "Sign in"


def test_a_forged_form_token_is_refused(live: LiveDashboard, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, live)
    page.goto(f"{live.url}admin/subscribers")
    page.fill("#q", "reader03")
    page.click("button:has-text('Search')")
    page.click("text=reader03@example.org")
    page.click("text=Unsubscribe")
    page.evaluate("document.querySelector('main form input[name=csrf_token]').value = '1.forged'")
    page.click("button:has-text('Unsubscribe')")
    assert heading(page) == "Error 403"
    page.goto(f"{live.url}admin/subscribers?q=reader03")
    assert "confirmed" in page.locator("table").inner_text()


class GatedHandler(RecordingHandler):
    """Takes the first `open` messages at once, then waits until the test opens the gate."""

    def __init__(self, open_for: int) -> None:
        super().__init__()
        self.open_for = open_for
        self.gate = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_count >= self.open_for:
            await asyncio.to_thread(self.gate.wait, DEADLINE_SECONDS)
        return await super().handle_DATA(server, session, envelope)


def smtp_config(live: LiveDashboard, port: int) -> Path:
    """A second config file for the same site and store, sending through SMTP on `port`."""
    text = live.site.config_path.read_text(encoding="utf-8")
    text = text.replace("[mail]\n", '[mail]\ntransport = "smtp"\n', 1)
    text += f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
    path = live.site.root / "smtp.toml"
    path.write_text(text, encoding="utf-8")
    return path


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DEADLINE_SECONDS}s")
        time.sleep(0.05)


def test_a_send_in_another_process_shows_its_progress_on_the_edition_page(
    live: LiveDashboard, context: BrowserContext
) -> None:
    from aiosmtpd.controller import Controller

    handler = GatedHandler(open_for=3)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    page = context.new_page()
    sign_in(page, live)
    page.goto(f"{live.url}admin/editions")
    page.click("text=daily #1")
    edition_url = page.url
    edition_id = edition_url.rstrip("/").rsplit("/", 1)[-1]
    sending = subprocess.Popen(
        [*PUBLISHER, "--config", str(smtp_config(live, port)), "send", "--force", edition_id],
        cwd=live.site.root,
        env=publisher_environment(**ENVIRON),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: handler.data_count >= 3, "the first messages")
        page.goto(edition_url)
        sent = page.locator("td[data-status=sent]")
        wait_for(lambda: sent.inner_text() == "3", "the first three counted on the page")
        assert "Sending" in page.locator("[data-ledger-note]").inner_text()
        screenshot(page, "edition-sending")
        handler.gate.set()
        # No reload: the page's script refreshes the counts while the send runs.
        wait_for(lambda: sent.inner_text() == str(READERS), "every message counted")
        wait_for(
            lambda: "finished" in page.locator("[data-ledger-note]").inner_text(),
            "the end of the send",
        )
        assert sending.wait(timeout=DEADLINE_SECONDS) == 0
    finally:
        handler.gate.set()
        if sending.poll() is None:
            sending.kill()
        sending.communicate()
        controller.stop()


ADMIN_PAGES = {
    "login": None,
    "overview": "admin/",
    "subscribers": "admin/subscribers?q=reader",
    "subscriber": "admin/subscribers/1",
    "subscriber-action": "admin/subscribers/2/digests",
    "editions": "admin/editions",
    "edition": "admin/editions/2",
    "articles": "admin/articles",
    "sources": "admin/sources",
    "not-found": "admin/editions/999999",
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", list(ADMIN_PAGES))
def test_every_admin_page_fits_375_px_with_no_axe_violation(
    live: LiveDashboard, tab: Callable[[int, str], Page], name: str, scheme: str
) -> None:
    page = tab(375, scheme)
    path = ADMIN_PAGES[name]
    if path is None:
        page.context.clear_cookies()  # signed out
        page.goto(f"{live.url}admin/login")
    else:
        page.goto(f"{live.url}{path}")
        if heading(page) == "Sign in":  # not yet signed in here, or another test ended sessions
            sign_in(page, live)
            page.goto(f"{live.url}{path}")
        assert heading(page) != "Sign in", name
    assert sideways_scroll(page) <= 0, name
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    screenshot(page, f"{name}-375-{scheme}")
