"""The whole history (RFC 5005 archive pages, JSON Feed next_url), channel images, content modes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from lxml import etree

from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.articles import public_articles
from publisher.store.database import Store
from tests.conftest import MovableClock, Site

HISTORY = "http://purl.org/syndication/history/1.0"


@pytest.fixture
def paged(site: Site, store: Store, clock: MovableClock) -> Site:
    """The sample site with archive pages of three articles: 14 public, four full pages."""
    text = site.config_path.read_text().replace("archive_page_size = 5", "archive_page_size = 3")
    site.config_path.write_text(text)
    gather(store, site.config(), clock)
    build(store, site.config(), clock)
    return site


def local(site: Site, url: str) -> Path:
    feeds_path = urlsplit(site.config().feeds_url).path
    return site.feeds / urlsplit(url).path.removeprefix(feeds_path)


def public_guids(store: Store) -> set[str]:
    with store.transaction() as connection:
        return {published.guid for published in public_articles(connection)}


def link(parsed: feedparser.FeedParserDict, rel: str) -> str | None:
    return next((item.href for item in parsed.feed.get("links", []) if item.rel == rel), None)


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_walking_prev_archive_collects_every_article_once(
    paged: Site, store: Store, name: str
) -> None:
    current = feedparser.parse(paged.feeds / name)
    seen = {entry.id for entry in current.entries}
    archived: Counter[str] = Counter()
    pages = 0
    url = link(current, "prev-archive")
    while url:
        page = feedparser.parse(local(paged, url))
        assert page.bozo == 0, page.get("bozo_exception")
        assert link(page, "current") == paged.config().feeds_url + name
        archived.update(entry.id for entry in page.entries)
        pages += 1
        url = link(page, "prev-archive")
    assert pages == 4
    assert set(archived.values()) == {1}  # no article on two pages
    assert sum(archived.values()) == 12
    assert seen | set(archived) == public_guids(store)


def test_following_json_next_url_collects_every_article_once(paged: Site, store: Store) -> None:
    document = json.loads((paged.feeds / "feed.json").read_text())
    seen = {item["id"] for item in document["items"]}
    archived: Counter[str] = Counter()
    while "next_url" in document:
        document = json.loads(local(paged, document["next_url"]).read_text())
        archived.update(item["id"] for item in document["items"])
    assert set(archived.values()) == {1}
    assert sum(archived.values()) == 12
    assert seen | set(archived) == public_guids(store)


def test_full_pages_keep_their_articles_and_only_gain_a_next_archive_link(
    paged: Site, store: Store, clock: MovableClock
) -> None:
    for suffix in (".xml", ".atom"):
        tree = etree.parse(str(paged.feeds / f"archive/1{suffix}"))
        assert tree.xpath("//fh:archive", namespaces={"fh": HISTORY})
    before = {p: p.read_bytes() for p in (paged.feeds / "archive").iterdir()}
    assert len(before) == 4 * 3
    last_ids = [e.id for e in feedparser.parse(paged.feeds / "archive/4.atom").entries]
    for number in (1, 2, 3):  # three more articles: the fifth page fills
        extra = paged.root / f"content/news/extra-{number}.md"
        extra.write_text(
            f"---\ntitle: Extra {number}\ndate: 2026-11-24T0{number}:00:00\n---\nText.\n"
        )
    clock.advance(minutes=5)
    gather(store, paged.config(), clock)
    report = build(store, paged.config(), clock)
    assert sorted(p for p in report.written if p.startswith("archive/")) == [
        "archive/4.atom",  # a next-archive link to page 5, once
        "archive/4.xml",
        "archive/5.atom",
        "archive/5.json",
        "archive/5.xml",
    ]
    unchanged = {p: data for p, data in before.items() if not p.name.startswith("4.")}
    assert {p: p.read_bytes() for p in unchanged} == unchanged
    assert (paged.feeds / "archive/4.json").read_bytes() == before[paged.feeds / "archive/4.json"]
    page = feedparser.parse(paged.feeds / "archive/4.atom")
    assert [e.id for e in page.entries] == last_ids
    assert link(page, "next-archive") == paged.config().feeds_url + "archive/5.atom"
    assert link(feedparser.parse(paged.feeds / "rss.xml"), "prev-archive") == (
        paged.config().feeds_url + "archive/5.xml"
    )


def test_channels_carry_the_site_icon_and_logo(paged: Site) -> None:
    config = paged.config()
    assert config.icon is not None
    assert config.logo is not None
    rss = etree.parse(str(paged.feeds / "rss.xml"))
    assert rss.findtext("channel/image/url") == config.icon.url
    assert rss.findtext("channel/image/title") == rss.findtext("channel/title")
    assert rss.findtext("channel/image/link") == rss.findtext("channel/link")
    atom = feedparser.parse(paged.feeds / "categories/news/atom.xml").feed
    assert atom.icon == config.icon.url
    assert atom.logo == config.logo.url
    document = json.loads((paged.feeds / "feed.json").read_text())
    assert document["icon"] == document["favicon"] == config.icon.url


def test_summary_feeds_carry_no_full_content(paged: Site) -> None:
    """The sample site sets `category_content = { business = "summary" }`."""
    summary = feedparser.parse(paged.feeds / "categories/business/rss.xml")
    full = feedparser.parse(paged.feeds / "categories/culture/rss.xml")
    assert summary.entries
    assert all("content" not in entry for entry in summary.entries)
    assert all(entry.content[0].value.startswith("<") for entry in full.entries)
    atom = feedparser.parse(paged.feeds / "categories/business/atom.xml")
    assert all("content" not in entry and entry.summary for entry in atom.entries)
    items = json.loads((paged.feeds / "categories/business/feed.json").read_text())["items"]
    assert all("content_html" not in item and item["content_text"] for item in items)
