"""The web app in Debian's chromium, served on loopback, with JavaScript turned off.

A reader subscribes through the form, confirms from the mailed link, receives a digest, follows
its unsubscribe link and gets nothing more. Each page is saved to `test-artifacts/web-*.png`.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from publisher.audience.preferences import preferences_of
from publisher.audience.subscribers import add_subscriber, find_subscriber
from publisher.config import Config
from publisher.mail.delivery.send import send_edition
from publisher.mail.editions import create_edition
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import open_store
from publisher.store.statuses import SubscriberStatus
from tests.conftest import (
    MigratedTemplates,
    MovableClock,
    Site,
    copy_sample,
    free_port,
    page_at,
    save_screenshot,
)

ENVIRON = {"PUBLISHER_SECRET": "browser-test-secret-0123456789abcdef"}
READER = "robin.reader@example.org"
DEADLINE_SECONDS = 20


@dataclass
class LiveSite:
    """The sample site, gathered and served on loopback at `url`."""

    site: Site
    config: Config
    url: str
    clock: MovableClock

    def mails_to(self, address: str) -> list[EmailMessage]:
        if not self.config.maildir.exists():
            return []
        box = mailbox.Maildir(self.config.maildir, create=False)
        found = []
        for key in sorted(box.keys()):
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if address in str(message["To"]):
                found.append(message)
        return found

    def wait_for_mail(self, address: str, count: int) -> list[EmailMessage]:
        """Poll the Maildir until `count` messages to `address` are there."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(found := self.mails_to(address)) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"no message {count} to {address} within {DEADLINE_SECONDS}s")
            time.sleep(0.05)
        return found

    def status(self, address: str) -> str:
        with open_store(self.config.store_url) as store:
            subscriber = find_subscriber(store, address)
        assert subscriber is not None
        return subscriber.status


@contextmanager
def serving(config_path: Path, port: int) -> Iterator[None]:
    """The site served by `publisher serve` on 127.0.0.1:`port`, as an operator runs it."""
    with _serve_command(config_path, port):
        _wait_until_answering(port)
        yield


@contextmanager
def _serve_command(config_path: Path, port: int) -> Iterator[None]:
    command = [sys.executable, "-m", "publisher", "--config", str(config_path), "serve"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **ENVIRON},
        cwd=config_path.parent,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE_SECONDS)


def _wait_until_answering(port: int) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/static/site.css", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                pytest.fail(f"the web app did not answer on port {port}")
            time.sleep(0.05)


@pytest.fixture
def live(site: Site, clock: MovableClock) -> Iterator[LiveSite]:
    with served(site, clock) as running:
        yield running


@pytest.fixture(scope="module")
def live_to_read(
    tmp_path_factory: pytest.TempPathFactory, migrated_templates: MigratedTemplates
) -> Iterator[LiveSite]:
    """One served sample for the module's tests that only read its pages."""
    with served_sample(tmp_path_factory, migrated_templates) as running:
        yield running


@contextmanager
def served_sample(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_templates: MigratedTemplates,
    digests: tuple[str, ...] = (),
) -> Iterator[LiveSite]:
    """A fresh copy of the sample site on the session's migrated store, `served` (with first
    editions of `digests`): one for a module's tests."""
    site = copy_sample(tmp_path_factory.mktemp("sample") / "site")
    migrated_templates.sqlite_copy(site.root / "publisher.db")
    with served(site, MovableClock(), digests) as running:
        yield running


@contextmanager
def served(site: Site, clock: MovableClock, digests: tuple[str, ...] = ()) -> Iterator[LiveSite]:
    """`site` gathered, built, with a first edition of each of `digests`, and served on a free
    loopback port, its URL in its config."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace("https://gazette.example.org/", url, 1))
    config = site.config()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        build(store, config)
        for digest in digests:
            create_edition(store, config, digest, clock)
    with serving(site.config_path, port):
        yield LiveSite(site, config, url, clock)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile with JavaScript off: every page must work without it."""
    opened = browser.new_context(java_script_enabled=False, viewport={"width": 960, "height": 900})
    yield opened
    opened.close()


def screenshot(page: Page, step: str) -> None:
    save_screenshot(page, f"web-{step}")


def heading(page: Page) -> str:
    return page.locator("h1").first.inner_text().strip()


def link_in(message: EmailMessage, pattern: str) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(pattern, body.get_content())
    assert found is not None, body.get_content()
    return found.group()


def test_reader_subscribes_confirms_receives_a_digest_and_unsubscribes(
    live: LiveSite, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(live.url)
    screenshot(page, "home")
    page.fill("#field-email", READER)
    page.fill("#field-name", "Robin Reader")
    page.uncheck("#digest-culture")
    page.click("button[type=submit]")
    assert heading(page) == "Check your inbox"
    screenshot(page, "check-inbox")

    [confirmation] = live.wait_for_mail(READER, 1)
    confirm_url = link_in(confirmation, rf"{re.escape(live.url)}confirm/\S+")
    page.goto(confirm_url)
    assert heading(page) == "Confirm your subscription"
    screenshot(page, "confirm")
    assert live.status(READER) != SubscriberStatus.CONFIRMED
    page.click("button[type=submit]")
    assert heading(page) == "You are subscribed"
    screenshot(page, "confirmed")
    assert live.status(READER) == SubscriberStatus.CONFIRMED

    with open_store(live.config.store_url) as store:
        outcome = create_edition(store, live.config, "daily", live.clock)
        assert outcome.edition is not None
        send_edition(store, live.config, outcome.edition.id, ENVIRON, clock=live.clock)
    # Maildir keys do not sort by time across processes: find the digest by its List-Id.
    # Three messages: the confirmation, the welcome, the digest.
    [digest] = [m for m in live.wait_for_mail(READER, 3) if m["List-Id"]]
    unsubscribe_url = link_in(digest, rf"{re.escape(live.url)}unsubscribe/\S+")
    assert f"<{unsubscribe_url}>" in str(digest["List-Unsubscribe"])
    page.goto(unsubscribe_url)
    assert heading(page) == "Unsubscribe?"
    screenshot(page, "unsubscribe")
    assert live.status(READER) == SubscriberStatus.CONFIRMED
    page.click("button[type=submit]")
    assert heading(page) == "You are unsubscribed"
    screenshot(page, "unsubscribed")
    assert live.status(READER) == SubscriberStatus.UNSUBSCRIBED

    live.site.write_article(
        "news/after-unsubscribing.md",
        "---\ntitle: Published after Robin left\ndate: 2026-11-25T13:00:00Z\n---\nNews.\n",
    )
    live.clock.advance(hours=2)
    with open_store(live.config.store_url) as store:
        gather(store, live.config, live.clock)
        outcome = create_edition(store, live.config, "daily", live.clock)
        assert outcome.edition is not None
        report = send_edition(store, live.config, outcome.edition.id, ENVIRON, clock=live.clock)
    assert report.sent == 0
    assert len(live.mails_to(READER)) == 3


def test_refused_sign_up_shows_what_to_fix(live: LiveSite, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(live.url)
    page.fill("#field-email", "not an address")
    page.click("button[type=submit]")
    assert page.locator(".error-summary").inner_text().count("Enter an email address") == 1
    assert page.get_attribute("#field-email", "aria-invalid") == "true"
    screenshot(page, "home-refused")
    page.goto(f"{live.url}confirm/1.2.nonsense")
    assert heading(page) == "This link is not valid"
    screenshot(page, "bad-link")


def sideways_scroll(page: Page) -> int:
    """How far the page scrolls sideways: more than 0 means it does not fit the screen."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def broken_images(page: Page) -> list[str]:
    """The images that should have loaded (not lazy ones) but did not."""
    return list(
        page.evaluate(
            "[...document.images].filter(i => i.loading !== 'lazy')"
            ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
        )
    )


@pytest.mark.parametrize("width", [375, 960])
def test_article_and_category_pages_fit_the_screen_and_load_every_image(
    live_to_read: LiveSite, browser: Browser, width: int
) -> None:
    with page_at(browser, width) as page:
        for step, path in (
            ("article", "articles/harbour-dredging-march/"),
            ("category", "categories/culture/"),
        ):
            page.goto(f"{live_to_read.url}{path}", wait_until="load")
            assert sideways_scroll(page) <= 0, (path, width)
            assert broken_images(page) == []
            for source in page.evaluate("[...document.images].map(i => i.src)"):
                fetched = page.request.get(source)
                assert fetched.ok, source
                assert fetched.headers["content-type"].startswith("image/"), source
            screenshot(page, f"{step}-{width}")


def test_reader_changes_digests_pauses_and_leaves_on_the_preferences_page(
    live: LiveSite, context: BrowserContext
) -> None:
    with open_store(live.config.store_url) as store:
        add_subscriber(store, READER, "Robin", ["daily", "culture"], live.clock.now)
        outcome = create_edition(store, live.config, "daily", live.clock)
        assert outcome.edition is not None
        send_edition(store, live.config, outcome.edition.id, ENVIRON, clock=live.clock)
    [digest] = live.wait_for_mail(READER, 1)
    preferences = link_in(digest, rf"{re.escape(live.url)}preferences/\S+")
    page = context.new_page()
    page.goto(preferences)
    assert heading(page) == "Your subscription"
    assert page.is_checked("#digest-daily")
    assert page.is_checked("#digest-culture")
    screenshot(page, "preferences")

    page.uncheck("#digest-culture")
    page.fill("#field-name", "Robin Reader")
    page.click("button[name=save]")
    assert "Your choices are saved." in page.locator("[role=status]").first.inner_text()
    with open_store(live.config.store_url) as store:
        robin = find_subscriber(store, READER)
    assert robin is not None
    assert (robin.status, robin.digests, robin.name) == (
        SubscriberStatus.CONFIRMED,
        ("daily",),
        "Robin Reader",
    )

    # The server runs on the real clock: pause until ten days from today there.
    until = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=10)).date()
    page.fill("#field-paused_until", until.isoformat())
    page.click("button[name=save]")
    assert f"Mail is paused until {until.day} " in page.locator(".paused").inner_text()
    screenshot(page, "preferences-paused")
    with open_store(live.config.store_url) as store:
        found = preferences_of(store, robin.id)
    assert found is not None
    assert found.paused_until is not None
    assert found.paused_until.astimezone(ZoneInfo("Europe/London")).date() == until

    page.click("text=Unsubscribe from everything")
    assert heading(page) == "You are unsubscribed"
    screenshot(page, "preferences-unsubscribed")
    assert live.status(READER) == SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize("width", [375, 1280])
def test_author_and_article_pages_fit_the_screen_and_every_link_answers(
    live_to_read: LiveSite, browser: Browser, width: int
) -> None:
    with page_at(browser, width) as page:
        for step, path in (
            ("author", "authors/mara-quinn/"),
            ("article-authors", "articles/lantern-festival-returns/"),
        ):
            response = page.goto(f"{live_to_read.url}{path}", wait_until="load")
            assert response is not None
            assert response.status == 200, path
            assert sideways_scroll(page) <= 0, (path, width)
            assert page.locator(".avatar").first.evaluate("i => i.complete && i.naturalWidth") > 0
            links = page.evaluate("[...document.links].map(a => a.href.split('#')[0])")
            # Links to other sites (the authors' Mastodon and websites) cannot be reached here.
            local = sorted({link for link in links if link.startswith(live_to_read.url)})
            assert len(local) > 5, links
            for link in local:
                assert page.request.get(link).status == 200, (path, link)
            screenshot(page, f"{step}-{width}")
