"""Upstream feeds end to end: a real HTTP server on loopback, a real store, feeds and digests."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from html import escape

import feedparser
import pytest
import sqlalchemy as sa

from publisher.config import Config
from publisher.mail.editions import create_edition, list_editions
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.sources.poll import poll_sources, source_states
from publisher.store.articles import public_article_at, public_articles
from publisher.store.database import Store, open_store
from publisher.store.schema import articles, sources
from tests.conftest import SAMPLE_NOW, MovableClock, Site, publisher_environment, run_publisher
from tests.test_digest import HOSTILE_SUMMARY as DIGEST_HOSTILE_SUMMARY
from tests.test_digest import HOSTILE_TITLE as DIGEST_HOSTILE_TITLE
from tests.test_feeds import HOSTILE_TITLES
from tests.upstream.documents import (
    ATOM_WITH_BASE,
    HOSTILE_RSS,
    JSON_FEED_11,
    LATIN1_RSS,
    MALFORMED_RSS,
    NO_DATES_RSS,
    NO_GUIDS_RSS,
    RSS_1,
    WORDPRESS_RSS,
    rss_with_items,
)
from tests.upstream.server import FeedServer, Reply, fixed

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def configure(
    site: Site, tables: str, fetch: str = "allow_private = true\ntimeout = 5\n"
) -> Config:
    """Add `[fetch]` and source tables to the sample site's config."""
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(f"{text}\n[fetch]\n{fetch}\n{tables}", encoding="utf-8")
    return site.config()


def source(name: str, url: str, **options: object) -> str:
    lines = [f'[[sources]]\nname = "{name}"\nurl = "{url}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def items_of(store: Store, name: str) -> list[dict[str, object]]:
    with store.transaction() as connection:
        rows = connection.execute(
            sa.select(articles).where(articles.c.feed_source == name).order_by(articles.c.sequence)
        )
        return [dict(row._mapping) for row in rows]


def rfc822(days: float) -> str:
    return format_datetime(SAMPLE_NOW + timedelta(days=days), usegmt=True)


# Every format, read from the server and stored as articles ---------------------------------


@pytest.mark.parametrize(
    ("document", "content_type", "titles"),
    [
        (
            WORDPRESS_RSS,
            "application/rss+xml",
            ["Winter training starts", "Regatta results \u2013 autumn head"],
        ),
        (RSS_1, "application/rdf+xml", ["Avocets on the mudflats"]),
        (ATOM_WITH_BASE, "application/atom+xml", ["Shout: yacht aground"]),
        (JSON_FEED_11, "application/feed+json", ["Spring tides this week", "Neaps"]),
        (NO_GUIDS_RSS, "application/rss+xml", ["Alpha", "Beta"]),
        (LATIN1_RSS, "application/rss+xml; charset=iso-8859-1", ["Crème brûlée à volonté"]),
        (MALFORMED_RSS, "application/rss+xml", ["Still readable"]),
    ],
    ids=["wordpress-rss2", "rss1", "atom-xml-base", "json-feed-1.1", "no-guids", "latin1", "bozo"],
)
def test_each_kind_of_feed_is_stored_as_articles_with_their_own_urls(
    site: Site,
    store: Store,
    server: FeedServer,
    clock: MovableClock,
    document: bytes,
    content_type: str,
    titles: list[str],
) -> None:
    server.serve("/feed", document, content_type)
    config = configure(site, source("up", server.url("/feed"), backfill=10))
    report = poll_sources(store, config, clock)
    assert report.errors == []
    stored = items_of(store, "up")
    assert [row["title"] for row in stored] == titles
    for row in stored:
        assert row["status"] == "public"
        assert row["sequence"] is not None
        assert str(row["guid"]).startswith("tag:gazette.example.org,2026:sources/up/")
        assert str(row["url"]).startswith("http")
        assert row["origin"]["name"] == "up"
    assert source_states(store)["up"].items == len(titles)


def test_an_item_without_a_date_is_dated_when_first_seen(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", NO_DATES_RSS)
    config = configure(site, source("up", server.url("/feed"), backfill=5))
    poll_sources(store, config, clock)
    [row] = items_of(store, "up")
    assert row["published_at"] == SAMPLE_NOW
    clock.advance(hours=1)
    server.serve("/feed", NO_DATES_RSS.replace(b"one", b"one, edited"))
    poll_sources(store, config, clock)
    [row] = items_of(store, "up")
    assert row["published_at"] == SAMPLE_NOW  # not the time of the edit


def test_a_malformed_feed_is_logged_once_per_source(
    site: Site,
    store: Store,
    server: FeedServer,
    clock: MovableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.routes["/feed"] = fixed(
        Reply(200, {"Content-Type": "application/rss+xml"}, MALFORMED_RSS)
    )
    config = configure(site, source("up", server.url("/feed"), every="1m"))
    with caplog.at_level(logging.WARNING, logger="publisher.sources.poll"):
        for _ in range(3):
            poll_sources(store, config, clock)
            clock.advance(minutes=2)
    assert len(server.requests_for("/feed")) == 3
    warnings = [r.getMessage() for r in caplog.records if "malformed feed" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"source up: {server.url('/feed')}: malformed feed:")


# Backfill, the next digest, edits ----------------------------------------------------------


def test_first_fetch_publishes_nothing_and_a_new_item_reaches_the_next_digest_once(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    two = [("a", "Old news", rfc822(-2)), ("b", "Older news", rfc822(-3))]
    server.serve("/feed", rss_with_items("Partner", two))
    config = configure(site, source("partner", server.url("/feed")))
    gather(store, config, clock)
    assert items_of(store, "partner") == []
    assert source_states(store)["partner"].primed
    create_edition(store, config, "daily", clock)  # takes the sample articles

    clock.advance(minutes=20)
    server.serve("/feed", rss_with_items("Partner", [("c", "Fresh news", rfc822(0)), *two]))
    report = gather(store, config, clock)
    assert report.sources is not None
    assert report.sources.outcomes[0].new == 1
    [fresh] = items_of(store, "partner")
    assert fresh["title"] == "Fresh news"

    outcome = create_edition(store, config, "daily", clock)
    assert outcome.edition is not None
    assert outcome.edition.article_guids == (fresh["guid"],)
    assert "Fresh news" in outcome.edition.html

    clock.advance(minutes=20)
    gather(store, config, clock)  # 304 now
    assert create_edition(store, config, "daily", clock).edition is None
    assert len(items_of(store, "partner")) == 1


def test_backfill_publishes_the_newest_items_of_the_first_fetch(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    feed = [(f"i{n}", f"Item {n}", rfc822(-n)) for n in range(5)]
    server.serve("/feed", rss_with_items("P", feed))
    config = configure(site, source("p", server.url("/feed"), backfill=2))
    poll_sources(store, config, clock)
    assert [row["title"] for row in items_of(store, "p")] == ["Item 1", "Item 0"]


def test_an_edited_item_keeps_its_guid_and_place_and_is_not_sent_again(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/feed"), backfill=5))
    gather(store, config, clock)
    create_edition(store, config, "daily", clock)
    before = {row["guid"]: row for row in items_of(store, "wp")}
    clock.advance(minutes=20)
    server.serve(
        "/feed", WORDPRESS_RSS.replace(b"Winter training starts", b"Winter training moved")
    )
    report = gather(store, config, clock)
    assert report.sources is not None
    assert (report.sources.outcomes[0].new, report.sources.outcomes[0].updated) == (0, 1)
    after = {row["guid"]: row for row in items_of(store, "wp")}
    assert after.keys() == before.keys()
    [edited] = [row for row in after.values() if row["title"] == "Winter training moved"]
    assert edited["sequence"] == before[edited["guid"]]["sequence"]
    assert edited["updated_at"] == clock.now
    assert create_edition(store, config, "daily", clock).edition is None


def test_an_item_that_leaves_the_feed_stays_published(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/feed"), backfill=5))
    gather(store, config, clock)
    clock.advance(minutes=20)
    server.serve("/feed", rss_with_items("WP", []))
    gather(store, config, clock)
    assert [row["status"] for row in items_of(store, "wp")] == ["public", "public"]


def test_local_articles_and_items_live_side_by_side(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/feed"), backfill=5))
    gather(store, config, clock)
    clock.advance(minutes=20)
    again = gather(store, config, clock)
    assert (again.new, again.updated, again.withdrawn) == (0, 0, 0)
    with store.transaction() as connection:
        every = public_articles(connection)
    guids = [published.guid for published in every]
    assert len(guids) == len(set(guids))
    items = [p for p in every if p.article.origin is not None]
    assert len(items) == 2
    assert len(every) > len(items)  # the sample articles are all still public


# Fetching like a good citizen, through the store ---------------------------------------------


def test_the_second_fetch_is_a_304_and_changes_nothing(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/feed"), backfill=5))
    poll_sources(store, config, clock)
    clock.advance(minutes=16)
    report = poll_sources(store, config, clock)
    assert report.outcomes[0].status == "not modified"
    first, second = server.requests_for("/feed")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == source_states(store)["wp"].etag
    assert source_states(store)["wp"].last_status == "304"
    assert len(items_of(store, "wp")) == 2


def test_a_source_is_not_fetched_before_it_is_due(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/feed"), every="1h"))
    poll_sources(store, config, clock)
    clock.advance(minutes=59)
    assert poll_sources(store, config, clock).not_due == 1
    clock.advance(minutes=2)
    poll_sources(store, config, clock)
    assert len(server.requests_for("/feed")) == 2


def test_a_permanent_redirect_updates_the_stored_url(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.routes["/old"] = fixed(Reply(301, {"Location": "/new"}))
    server.serve("/new", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/old"), backfill=5))
    poll_sources(store, config, clock)
    assert source_states(store)["wp"].url == server.url("/new")
    assert items_of(store, "wp")[0]["origin"]["feed_url"] == server.url("/new")
    clock.advance(minutes=20)
    poll_sources(store, config, clock)
    assert len(server.requests_for("/old")) == 1
    assert len(server.requests_for("/new")) == 2


def test_410_disables_the_source_until_its_url_changes(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.routes["/gone"] = fixed(Reply(410))
    config = configure(site, source("wp", server.url("/gone")))
    report = poll_sources(store, config, clock)
    assert "gone (HTTP 410): source disabled" in report.errors[0]
    assert source_states(store)["wp"].disabled
    clock.advance(days=3)
    poll_sources(store, config, clock)
    assert len(server.requests_for("/gone")) == 1
    server.serve("/moved", WORDPRESS_RSS)
    site.config_path.write_text(
        site.config_path.read_text().replace(server.url("/gone"), server.url("/moved"))
    )
    poll_sources(store, site.config(), clock)
    assert not source_states(store)["wp"].disabled
    assert len(server.requests_for("/moved")) == 1


def test_429_with_retry_after_waits_that_long(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.routes["/busy"] = fixed(Reply(429, {"Retry-After": "3600"}))
    config = configure(site, source("wp", server.url("/busy"), every="5m"))
    report = poll_sources(store, config, clock)
    assert report.errors == [f"source wp: {server.url('/busy')}: HTTP 429 Too Many Requests"]
    assert source_states(store)["wp"].next_fetch_at == clock.now + timedelta(hours=1)
    clock.advance(minutes=59)
    poll_sources(store, config, clock)
    assert len(server.requests_for("/busy")) == 1
    clock.advance(minutes=2)
    poll_sources(store, config, clock)
    assert len(server.requests_for("/busy")) == 2


@pytest.mark.parametrize("value", ["99999999999999999999", "\u00b2", "1e9", "-5"])
def test_a_retry_after_of_any_value_never_stops_gathering(
    site: Site, store: Store, server: FeedServer, clock: MovableClock, value: str
) -> None:
    server.routes["/busy"] = fixed(Reply(503, {"Retry-After": value}))
    config = configure(site, source("wp", server.url("/busy"), every="5m"))
    report = gather(store, config, clock)
    assert report.sources is not None
    assert report.sources.errors == [
        f"source wp: {server.url('/busy')}: HTTP 503 Service Unavailable"
    ]
    assert report.new > 0  # the local articles were gathered all the same
    next_fetch = source_states(store)["wp"].next_fetch_at
    assert next_fetch is not None
    assert clock.now < next_fetch <= clock.now + timedelta(days=1)


def test_failing_sources_are_shown_by_status_with_since_when_and_their_error(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    from zoneinfo import ZoneInfo

    from publisher.status import site_status, status_document, status_lines

    server.routes["/ok"] = fixed(Reply(200, {"Content-Type": "application/rss+xml"}, WORDPRESS_RSS))
    tables = "".join(source(name, server.url(f"/{name}")) for name in ("ok", "gone-a", "gone-b"))
    config = configure(site, tables)
    poll_sources(store, config, clock)
    first = clock.now
    clock.advance(days=2)
    poll_sources(store, config, clock, force=True)
    status = site_status(config, store)
    lines = [line for line in status_lines(status, ZoneInfo("UTC")) if line.startswith("source ")]
    assert len(lines) == 2
    assert lines[0].startswith(f"source gone-a: failing since {first:%Y-%m-%d}")
    assert "(2 failed fetches)" in lines[0]
    assert "HTTP 404" in lines[0]
    document = status_document(status)
    assert [s["name"] for s in document["failing_sources"]] == ["gone-a", "gone-b"]
    assert document["failing_sources"][0]["since"].startswith(f"{first:%Y-%m-%d}")


def test_publish_counts_each_failing_source_as_an_error_and_status_shows_them(
    site: Site, server: FeedServer
) -> None:
    # Item 17 of issue 20: two sources answering 404 and `publish` said "0 errors".
    tables = "".join(source(name, server.url(f"/{name}")) for name in ("gone-a", "gone-b"))
    configure(site, tables)
    published = run_publisher(site.root, "publish")
    assert published.returncode == 1  # a partial failure, as for a broken article
    summary = published.stdout.splitlines()[0]
    assert summary.startswith("gather: 16 new, 0 updated, 0 withdrawn, 14 published")
    assert ", 1 scheduled, 2 errors; sources: 2 fetched" in summary
    assert "0 errors" not in summary
    assert (site.root / "feeds" / "rss.xml").exists()  # the rest was still published
    for name in ("gone-a", "gone-b"):
        assert f"source {name}: {server.url(f'/{name}')}: HTTP 404" in published.stderr
    shown = run_publisher(site.root, "status")
    assert shown.returncode == 0, shown.stderr
    assert ", 2 errors" in next(ln for ln in shown.stdout.splitlines() if ln.startswith("last"))
    failing = [line for line in shown.stdout.splitlines() if line.startswith("source ")]
    assert [line.split(":")[0] for line in failing] == ["source gone-a", "source gone-b"]
    assert all("failing since" in line and "HTTP 404 Not Found" in line for line in failing)
    document = json.loads(run_publisher(site.root, "status", "--json").stdout)
    assert document["last_gather"]["error_count"] == 2
    assert [entry["last_error"] for entry in document["failing_sources"]] == [
        f"{server.url(f'/{name}')}: HTTP 404 Not Found" for name in ("gone-a", "gone-b")
    ]


def test_errors_back_off_doubling_up_to_a_day(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.routes["/broken"] = fixed(Reply(500))
    config = configure(site, source("wp", server.url("/broken"), every="1h"))
    delays = []
    for _ in range(7):
        poll_sources(store, config, clock)
        state = source_states(store)["wp"]
        assert state.next_fetch_at is not None
        delays.append(state.next_fetch_at - clock.now)
        clock.now = state.next_fetch_at
    hours = [delay / timedelta(hours=1) for delay in delays]
    assert hours == [2, 4, 8, 16, 24, 24, 24]
    assert source_states(store)["wp"].failures == 7
    server.serve("/broken", WORDPRESS_RSS)
    poll_sources(store, config, clock)
    assert source_states(store)["wp"].failures == 0
    assert source_states(store)["wp"].last_error is None


def test_a_slow_a_huge_and_a_private_source_never_stop_the_others(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    held = threading.Event()
    server.routes["/slow"] = fixed(Reply(200, body=WORDPRESS_RSS, hold=held))
    server.routes["/huge"] = fixed(
        Reply(200, chunks=lambda: iter([b"<rss>" + b" " * 1024 * 1024] * 12))
    )
    server.serve("/good", WORDPRESS_RSS)
    tables = (
        source("slow", server.url("/slow"))
        + source("huge", server.url("/huge"))
        + source("good", server.url("/good"), backfill=5)
    )
    config = configure(site, tables, fetch="allow_private = true\ntimeout = 1\n")
    try:
        report = poll_sources(store, config, clock)
    finally:
        held.set()
    assert sorted(report.errors) == [
        f"source huge: {server.url('/huge')}: body is over the 10485760-byte limit",
        f"source slow: {server.url('/slow')}: no complete answer within 1 s",
    ]
    assert len(items_of(store, "good")) == 2
    assert (
        source_states(store)["slow"].last_error
        == f"{server.url('/slow')}: no complete answer within 1 s"
    )


def test_a_private_address_is_refused_by_default(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/feed")), fetch="timeout = 5\n")
    report = poll_sources(store, config, clock)
    assert report.errors == [
        f"source wp: {server.url('/feed')}: refused: 127.0.0.1 is 127.0.0.1, not a public "
        "address (add its network to [fetch] allow_addresses, or set allow_private = true, "
        "to fetch from it)"
    ]
    assert server.requests_for("/feed") == []


def test_a_source_in_an_allowed_network_is_fetched_and_no_other_private_one(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    with FeedServer("127.0.0.2") as intranet:
        intranet.serve("/feed", WORDPRESS_RSS)
        server.serve("/feed", WORDPRESS_RSS)
        tables = source("intranet", intranet.url("/feed")) + source("other", server.url("/feed"))
        fetch = 'allow_addresses = ["127.0.0.2/32"]\ntimeout = 5\n'
        report = poll_sources(store, configure(site, tables, fetch=fetch), clock)
        assert len(intranet.requests_for("/feed")) == 1
    assert [error.split(":")[0] for error in report.errors] == ["source other"]
    assert "refused: 127.0.0.1 is 127.0.0.1" in report.errors[0]
    assert server.requests_for("/feed") == []


def test_two_gather_processes_at_once_fetch_and_store_each_item_once(
    site: Site, store_url: str, server: FeedServer
) -> None:
    # Every feed is held until one process has finished: the other holds the claims, so the
    # first to finish must have fetched nothing. Were the claims broken, both would wait here.
    held = threading.Event()
    paths = [f"/feed{n}" for n in range(6)]
    for n, path in enumerate(paths):
        items = [(f"{n}-{k}", f"Feed {n} item {k}", rfc822(-k)) for k in range(4)]
        body = rss_with_items(f"Feed {n}", items)
        server.routes[path] = fixed(Reply(200, {"Content-Type": "text/xml"}, body, hold=held))
    tables = "".join(source(f"s{n}", server.url(path), backfill=4) for n, path in enumerate(paths))
    configure(site, tables, fetch="allow_private = true\ntimeout = 120\n")
    environment = publisher_environment(
        PUBLISHER_CONFIG=str(site.config_path), PUBLISHER_STORE_URL=store_url
    )
    open_store(store_url).close()  # the schema exists, as it does for any running site
    command = [sys.executable, "-m", "publisher", "gather"]
    processes = [
        subprocess.Popen(
            command,
            cwd=site.root,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 90
        while all(process.poll() is None for process in processes):
            assert time.monotonic() < deadline, "neither gather finished while feeds were held"
            time.sleep(0.05)
    finally:
        held.set()
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    summaries = sorted(output[0].split("; ")[1].strip() for output in outputs)
    assert summaries == [
        "sources: 0 fetched, 6 not due, 0 new items, 0 updated, 0 errors",
        "sources: 6 fetched, 0 not due, 24 new items, 0 updated, 0 errors",
    ]
    for path in paths:
        assert len(server.requests_for(path)) == 1
    with open_store(store_url) as opened, opened.transaction() as connection:
        rows = connection.execute(
            sa.select(articles.c.feed_source, articles.c.title, articles.c.sequence).where(
                articles.c.feed_source.is_not(None)
            )
        ).all()
        states = connection.execute(sa.select(sources.c.name, sources.c["items"])).all()
    assert len(rows) == 24
    assert len({row.title for row in rows}) == 24
    assert len({row.sequence for row in rows}) == 24
    assert sorted(states) == [(f"s{n}", 4) for n in range(6)]


# Items in feeds and digests ------------------------------------------------------------------


def test_feeds_credit_the_source(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    config = configure(site, source("wp", server.url("/feed"), backfill=5, categories=["Clubs"]))
    gather(store, config, clock)
    build(store, config)
    rss = feedparser.parse((site.feeds / "rss.xml").read_bytes())
    atom = feedparser.parse((site.feeds / "atom.xml").read_bytes())
    for parsed in (rss, atom):
        [entry] = [e for e in parsed.entries if e.title == "Winter training starts"]
        assert entry.link == "https://rowing.example.net/2026/11/winter-training/"
        assert entry.source.title == "Alder Rowing Club"
        assert entry.source.get("href") or entry.source.get("url") or entry.source.links
    raw_rss = (site.feeds / "rss.xml").read_text()
    assert f'<source url="{server.url("/feed")}">Alder Rowing Club</source>' in raw_rss
    category = feedparser.parse((site.feeds / "categories/clubs/rss.xml").read_bytes())
    assert len(category.entries) == 2
    document = json.loads((site.feeds / "feed.json").read_bytes())
    [item] = [i for i in document["items"] if i["title"] == "Winter training starts"]
    assert item["_source"] == {"title": "Alder Rowing Club", "feed_url": server.url("/feed")}


def test_a_digest_can_choose_its_sources(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/wp", WORDPRESS_RSS)
    server.serve("/birds", RSS_1, "application/rdf+xml")
    tables = source("wp", server.url("/wp"), backfill=5) + source(
        "birds", server.url("/birds"), backfill=5
    )
    tables += '[[digests]]\nname = "posts"\ntitle = "Our posts"\nsources = ["wp"]\n'
    config = configure(site, tables)
    gather(store, config, clock)
    outcome = create_edition(store, config, "posts", clock)
    assert outcome.edition is not None
    wp_guids = [row["guid"] for row in items_of(store, "wp")]
    assert sorted(outcome.edition.article_guids) == sorted(wp_guids)


def test_hostile_items_never_reach_a_feed_or_an_email(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", HOSTILE_RSS)
    config = configure(site, source("evil", server.url("/feed"), backfill=5))
    gather(store, config, clock)
    create_edition(store, config, "daily", clock)  # the sample articles
    build(store, config)
    outcome = create_edition(store, config, "daily", clock)
    assert outcome.edition is None  # already in the first edition with the sample articles
    [edition] = [e for e in list_editions(store) if e.digest == "daily"]
    [json_item] = [
        item
        for item in json.loads((site.feeds / "feed.json").read_bytes())["items"]
        if "alert(1)" in item["title"]
    ]
    outputs = {
        "rss": (site.feeds / "rss.xml").read_text(),
        "atom": (site.feeds / "atom.xml").read_text(),
        "json": json_item["content_html"],  # JSON titles are plain text: markup is just text
        "html": edition.html,
    }
    for name, text in outputs.items():
        assert "<script" not in text, name
        assert "onerror=" not in text, name
        assert "onclick=" not in text, name
        assert "javascript:" not in text.lower(), name
        assert not FORBIDDEN.search(text), name
    # The text part shows the title as the text it is; nothing in it is markup.
    assert "<script>alert(1)</script> ]]> &amp; control" in edition.text
    assert "javascript:" not in edition.text
    assert not FORBIDDEN.search(edition.text)
    for name in ("rss", "atom"):
        parsed = feedparser.parse(outputs[name].encode())
        assert parsed.bozo == 0, name
        [entry] = [e for e in parsed.entries if "alert(1)" in e.title]
        assert entry.title == "<script>alert(1)</script> ]]> &amp; control"


HOSTILE_CORPUS = [*HOSTILE_TITLES, DIGEST_HOSTILE_TITLE, DIGEST_HOSTILE_SUMMARY]


def hostile_feed(texts: list[str]) -> bytes:
    """Each text of the articles' hostile corpus as an item's title and (as HTML) description."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>H</title>'
        "<link>https://h.example.net/</link><description>d</description>"
        + "".join(
            f"<item><title>{escape(text)}</title><guid>h-{n}</guid>"
            f"<link>https://h.example.net/{n}</link><pubDate>{rfc822(-n)}</pubDate>"
            f"<description>{escape(text)}</description></item>"
            for n, text in enumerate(texts)
        )
        + "</channel></rss>"
    ).encode("utf-8")


def test_the_articles_hostile_corpus_comes_out_of_feeds_and_email_inert(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", hostile_feed(HOSTILE_CORPUS))
    config = configure(site, source("h", server.url("/feed"), backfill=50))
    gather(store, config, clock)
    build(store, config)
    edition = create_edition(store, config, "daily", clock).edition
    assert edition is not None
    rss = feedparser.parse((site.feeds / "rss.xml").read_bytes())
    atom = feedparser.parse((site.feeds / "atom.xml").read_bytes())
    assert rss.bozo == 0
    assert atom.bozo == 0
    for parsed in (rss, atom):
        for entry in parsed.entries:
            if not entry.id.startswith("tag:gazette.example.org,2026:sources/h/"):
                continue
            content = entry.content[0].value
            assert "<script" not in content
            assert "onerror" not in content
            assert not FORBIDDEN.search(entry.title + content)
    for text in (edition.html, (site.feeds / "atom.xml").read_text()):
        assert "<script" not in text
        assert "onerror=" not in text
        assert not FORBIDDEN.search(text)
    assert not FORBIDDEN.search(edition.text)


def test_no_page_is_served_for_an_item_even_at_a_local_looking_url(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    local_looking = rss_with_items("Same host", [("x", "Same host", rfc822(-1))]).replace(
        b"https://x.example.net/x", b"https://gazette.example.org/articles/same-host/"
    )
    server.serve("/feed", local_looking)
    config = configure(site, source("same", server.url("/feed"), backfill=1))
    gather(store, config, clock)
    [row] = items_of(store, "same")
    assert row["url"] == "https://gazette.example.org/articles/same-host/"
    with store.transaction() as connection:
        assert public_article_at(connection, str(row["url"])) is None


def test_atom_items_from_the_server_resolve_urls_against_xml_base(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/atom", ATOM_WITH_BASE, "application/atom+xml")
    config = configure(site, source("boat", server.url("/atom"), backfill=1))
    gather(store, config, clock)
    [row] = items_of(store, "boat")
    assert row["url"] == "https://lifeboat.example.net/news/2026/shout-yacht"
    assert 'href="https://lifeboat.example.net/news/2026/photos/"' in str(row["body_html"])
    assert [author["name"] for author in row["authors"]] == ["Coxswain Bell"]


def test_digests_credit_the_source_of_an_item(
    site: Site, store: Store, server: FeedServer, clock: MovableClock
) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    tables = source("wp", server.url("/feed"), backfill=5, title="Rowing <Club> & Friends")
    tables += '[[digests]]\nname = "posts"\ntitle = "Posts"\nsources = ["wp"]\n'
    config = configure(site, tables)
    gather(store, config, clock)
    edition = create_edition(store, config, "posts", clock).edition
    assert edition is not None
    assert 'via <span class="byline-source">Rowing &lt;Club&gt; &amp; Friends</span>' in (
        edition.html
    )
    assert "By Jon Teal · 23 November 2026 · via Rowing <Club> & Friends" in edition.text
