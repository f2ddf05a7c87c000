"""WebSub: a real hub on loopback hears of each changed feed once; a hub that is down waits."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import feedparser
import pytest

from publisher.site.build import build
from publisher.site.feeds import is_current_feed
from publisher.site.gather import gather
from publisher.site.websub import retry_delay
from publisher.status import site_status, status_document, status_lines
from publisher.store.database import Store, open_store
from publisher.store.pings import pending_ping_count
from tests.conftest import MovableClock, Site
from tests.test_web import running


@dataclass
class Hub:
    """A loopback WebSub hub that records every publish ping."""

    server: ThreadingHTTPServer
    pings: list[dict[str, list[str]]] = field(default_factory=list)
    status: int = 204  # what the hub answers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hub"

    def topics(self) -> list[str]:
        return sorted(ping["hub.url"][0] for ping in self.pings)

    def take(self) -> list[str]:
        topics = self.topics()
        self.pings.clear()
        return topics


def start_hub(port: int = 0) -> Hub:
    hub: Hub

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            hub.pings.append(parse_qs(self.rfile.read(length).decode()))
            self.send_response(hub.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hub = Hub(ThreadingHTTPServer(("127.0.0.1", port), Handler))
    threading.Thread(target=hub.server.serve_forever, daemon=True).start()
    return hub


# The sample site's current feeds, each in three formats: the site, four categories, seven
# authors and the podcast.
CURRENT_FEED_FILES = 3 * (1 + 4 + 7 + 1)


@pytest.fixture
def hub() -> Iterator[Hub]:
    running_hub = start_hub()
    yield running_hub
    running_hub.server.shutdown()
    running_hub.server.server_close()


def with_hub(site: Site, hub_url: str, allow_private: bool = True) -> None:
    text = site.config_path.read_text()
    text = text.replace(
        '# websub_hub = "https://pubsubhubbub.appspot.com/"', f'websub_hub = "{hub_url}"'
    )
    assert hub_url in text
    if allow_private:
        text += "\n[fetch]\nallow_private = true\n"
    site.config_path.write_text(text)


def current_feed_urls(site: Site, paths: list[str]) -> list[str]:
    feeds_url = site.config().feeds_url
    return sorted(feeds_url + path for path in paths if is_current_feed(path))


def test_hub_hears_once_per_changed_feed_and_not_when_nothing_changed(
    site: Site, store: Store, clock: MovableClock, hub: Hub
) -> None:
    with_hub(site, hub.url)
    gather(store, site.config(), clock)
    first = build(store, site.config(), clock)
    topics = hub.take()
    assert topics == current_feed_urls(site, first.written)
    assert len(topics) == CURRENT_FEED_FILES  # no archive pages
    assert all(ping["hub.mode"] == ["publish"] for ping in hub.pings)

    assert build(store, site.config(), clock).written == []
    assert hub.take() == []

    article = site.root / "content/science/seagrass-meadow-survey.md"
    article.write_text(article.read_text().replace("seagrass", "eelgrass", 1))
    clock.advance(minutes=5)
    gather(store, site.config(), clock)
    third = build(store, site.config(), clock)
    changed = current_feed_urls(site, third.written)
    assert hub.take() == changed
    assert site.config().feeds_url + "categories/science/rss.xml" in changed
    assert site.config().feeds_url + "categories/news/rss.xml" not in changed
    with store.transaction() as connection:
        assert pending_ping_count(connection) == 0


def test_a_hub_that_is_down_fails_no_build_and_hears_later(
    site: Site, store: Store, clock: MovableClock
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with_hub(site, f"http://127.0.0.1:{port}/hub")
    gather(store, site.config(), clock)
    report = build(store, site.config(), clock)
    expected = current_feed_urls(site, report.written)
    assert report.pings is not None
    assert sorted(report.pings.failed) == expected
    with store.transaction() as connection:
        assert pending_ping_count(connection) == len(expected)

    hub = start_hub(port)
    try:
        build(store, site.config(), clock)  # the backoff has not passed
        assert hub.take() == []
        clock.advance(seconds=retry_delay(1).total_seconds())
        assert build(store, site.config(), clock).written == []
        assert hub.take() == expected
        build(store, site.config(), clock)
        assert hub.take() == []
    finally:
        hub.server.shutdown()
        hub.server.server_close()
    with store.transaction() as connection:
        assert pending_ping_count(connection) == 0


def test_a_hub_on_a_private_address_is_refused_unless_allowed(
    site: Site, store: Store, clock: MovableClock, hub: Hub
) -> None:
    with_hub(site, hub.url, allow_private=False)
    gather(store, site.config(), clock)
    report = build(store, site.config(), clock)
    assert hub.pings == []
    assert report.pings is not None
    assert report.pings.failed
    with store.transaction() as connection:
        assert pending_ping_count(connection) == len(report.pings.failed)


def test_feeds_link_the_hub_and_themselves(site: Site, store: Store, clock: MovableClock) -> None:
    with_hub(site, "https://hub.example.org/")
    gather(store, site.config(), clock)
    build(store, site.config(), clock)
    feeds_url = site.config().feeds_url
    for name in ("rss.xml", "atom.xml", "categories/news/rss.xml", "podcast/atom.xml"):
        links = {(link.rel, link.href) for link in feedparser.parse(site.feeds / name).feed.links}
        assert ("hub", "https://hub.example.org/") in links, name
        assert ("self", feeds_url + name) in links, name
    document = (site.feeds / "feed.json").read_text()
    assert '"hubs": [\n    {\n      "type": "WebSub",\n      "url": "https://hub.example.org/"' in (
        document
    )
    archive = feedparser.parse(site.feeds / "archive/1.xml").feed.links
    assert "hub" not in {link.rel for link in archive}


def test_served_feeds_send_hub_and_self_link_headers(site: Site, clock: MovableClock) -> None:
    with_hub(site, "https://hub.example.org/")
    config = site.config()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        build(store, config, clock)
    for web in running(config, clock):
        response = web.client.get("/feeds/categories/news/atom.xml")
        assert response.status_code == 200
        assert response.headers["link"] == (
            '<https://hub.example.org/>; rel="hub", '
            f'<{config.feeds_url}categories/news/atom.xml>; rel="self"'
        )
        page = web.client.get("/feeds/archive/1.xml")
        assert page.status_code == 200
        assert page.headers["content-type"] == "application/rss+xml; charset=utf-8"
        assert "link" not in page.headers
        assert (
            web.client.get("/feeds/archive/1.json")
            .headers["content-type"]
            .startswith("application/feed+json")
        )
        assert web.client.get("/feeds/archive/x.xml").status_code == 404


def test_status_counts_the_pings_waiting_for_the_hub(
    site: Site, store: Store, clock: MovableClock
) -> None:
    with_hub(site, "http://127.0.0.1:9/hub", allow_private=False)  # refused: never sent
    config = dataclasses.replace(site.config(), store_url=store.engine.url.render_as_string(False))
    gather(store, config, clock)
    report = build(store, config, clock)
    assert report.pings is not None
    status = site_status(config, store)
    assert status.websub_pings == len(report.pings.failed) == CURRENT_FEED_FILES
    assert f"websub: {status.websub_pings} pings waiting for the hub" in status_lines(
        status, ZoneInfo("UTC")
    )
    assert status_document(status)["websub_pings"] == CURRENT_FEED_FILES


def test_a_failing_hub_is_asked_once_per_build_and_every_ping_waits(
    site: Site, store: Store, clock: MovableClock, hub: Hub
) -> None:
    hub.status = 503
    with_hub(site, hub.url)
    gather(store, site.config(), clock)
    report = build(store, site.config(), clock)
    assert len(hub.take()) == 1  # one refusal ends the round: no timeout per feed
    assert report.pings is not None
    assert len(report.pings.failed) == CURRENT_FEED_FILES
    clock.advance(seconds=retry_delay(1).total_seconds())
    build(store, site.config(), clock)
    assert len(hub.take()) == 1
    hub.status = 202
    clock.advance(seconds=retry_delay(2).total_seconds())
    build(store, site.config(), clock)
    assert hub.take() == current_feed_urls(site, report.written)
    with store.transaction() as connection:
        assert pending_ping_count(connection) == 0
