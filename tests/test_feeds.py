"""Feeds as readers see them: feedparser, lxml and json read every file `build` writes."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.config import Config
from publisher.content.articles import (
    Article,
    Audio,
    Author,
    Category,
    Image,
    PublishedArticle,
)
from publisher.content.markup import strip_forbidden_characters
from publisher.site.build import build
from publisher.site.feeds import (
    UNKNOWN_MEDIA_TYPE,
    Enclosure,
    FeedSpec,
    feed_item,
    feed_specs,
    render_atom,
    render_feeds,
    render_json_feed,
    render_rss,
)
from publisher.site.gather import check_content, gather
from publisher.store.database import Store
from tests.conftest import MovableClock, Site

FEED_FILES = ("rss.xml", "atom.xml", "feed.json")


@pytest.fixture
def built(site: Site, store: Store, clock: MovableClock) -> Site:
    gather(store, site.config(), clock)
    build(store, site.config())
    return site


def expected_public_articles(site: Site) -> dict[str, Article]:
    articles, errors = check_content(site.config())
    assert errors == []
    now = datetime(2026, 11, 25, tzinfo=UTC)
    return {a.url: a for a in articles if not a.draft and a.date <= now}


def all_feed_files(feeds: Path) -> list[Path]:
    return sorted(p for p in feeds.rglob("*") if p.name in FEED_FILES)


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_site_feed_holds_every_public_article(built: Site, name: str) -> None:
    expected = expected_public_articles(built)
    parsed = feedparser.parse((built.feeds / name).read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert len(parsed.entries) == len(expected) == 14
    for entry in parsed.entries:
        article = expected[entry.link]
        assert entry.title == article.title
        assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == article.date
        assert {tag.term for tag in entry.tags} >= {
            c.slug if name == "atom.xml" else c.name for c in article.categories
        }
        assert entry.author
        enclosure = next(link for link in entry.links if link.rel == "enclosure")
        # An episode's enclosure is its audio (RSS allows one); the hero image's otherwise.
        media = article.audio or article.image
        assert enclosure.href == media.url if media else False
    dates = [entry.published_parsed for entry in parsed.entries]
    assert dates == sorted(dates, reverse=True)


def test_every_feed_file_parses_without_errors(built: Site) -> None:
    files = all_feed_files(built.feeds)
    categories = {"news", "culture", "business", "science"}
    authors = {p.stem for p in (built.content / "authors").glob("*.md")}
    assert len(authors) == 7
    assert len(files) == 3 * (
        2 + len(categories) + len(authors)
    )  # site, podcast, categories, authors
    assert {p.parent.name for p in files if p.parent.parent.name == "categories"} == categories
    assert {p.parent.name for p in files if p.parent.parent.name == "authors"} == authors
    for path in files:
        if path.suffix == ".json":
            assert_valid_json_feed(json.loads(path.read_bytes()))
            continue
        etree.fromstring(path.read_bytes())  # well-formed XML, or this raises
        parsed = feedparser.parse(path.read_bytes())
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.entries, path


def assert_valid_json_feed(document: dict[str, object]) -> None:
    """The JSON Feed 1.1 rules a reader relies on (feedparser 6.0 cannot read JSON Feed)."""
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(document["title"], str)
    items = document["items"]
    assert isinstance(items, list)
    assert items
    for item in items:
        assert isinstance(item["id"], str)
        assert isinstance(item.get("content_html") or item.get("content_text"), str)
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None
        for attachment in item.get("attachments", []):
            assert {"url", "mime_type"} <= attachment.keys()


def test_category_feed_holds_only_that_category(built: Site) -> None:
    expected = expected_public_articles(built)
    parsed = feedparser.parse((built.feeds / "categories" / "science" / "rss.xml").read_bytes())
    links = {entry.link for entry in parsed.entries}
    assert links == {
        url for url, a in expected.items() if "science" in {c.slug for c in a.categories}
    }
    assert parsed.feed.title == "The Harbour Gazette: Science"


def test_rss_has_channel_link_self_link_and_content_encoded(built: Site) -> None:
    tree = etree.fromstring((built.feeds / "rss.xml").read_bytes())
    namespaces = {
        "atom": "http://www.w3.org/2005/Atom",
        "content": "http://purl.org/rss/1.0/modules/content/",
    }
    assert tree.findtext("channel/link") == "https://gazette.example.org/"
    [self_link] = tree.findall("channel/atom:link[@rel='self']", namespaces)
    assert self_link.get("href") == "https://gazette.example.org/feeds/rss.xml"
    item = tree.find("channel/item")
    assert item is not None
    assert item.find("guid").get("isPermaLink") == "false"
    assert item.findtext("content:encoded", namespaces=namespaces).startswith("<figure>")
    enclosure = item.find("enclosure")
    image = built.content / "images" / "night-sky.jpg"
    assert enclosure.get("length") == str(image.stat().st_size)
    assert enclosure.get("type") == "image/jpeg"


def test_atom_content_is_html_and_every_entry_has_an_author(built: Site) -> None:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    data = (built.feeds / "atom.xml").read_bytes()
    assert b"xmlns:ns0" not in data  # a prefixed Atom namespace draws a validator warning
    tree = etree.fromstring(data)
    assert tree.find("a:link[@rel='self']", ns).get("href").endswith("/feeds/atom.xml")
    for entry in tree.findall("a:entry", ns):
        assert entry.find("a:link[@rel='alternate']", ns).get("type") == "text/html"
        assert entry.find("a:content", ns).get("type") == "html"
        assert entry.findtext("a:author/a:name", namespaces=ns)


def test_json_feed_is_version_1_1_with_every_article(built: Site) -> None:
    document = json.loads((built.feeds / "feed.json").read_bytes())
    assert_valid_json_feed(document)
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == "https://gazette.example.org/feeds/feed.json"
    assert len(document["items"]) == 14
    for item in document["items"]:
        assert {"id", "url", "title", "content_html", "date_published"} <= item.keys()


def test_non_ascii_article_survives_in_every_format(built: Site) -> None:
    title = next(a.title for a in expected_public_articles(built).values() if "港町" in a.title)
    for name in ("rss.xml", "atom.xml"):
        assert title in {e.title for e in feedparser.parse(built.feeds / name).entries}
    document = json.loads((built.feeds / "feed.json").read_text(encoding="utf-8"))
    assert title in {item["title"] for item in document["items"]}


def test_feed_updated_is_the_newest_article_never_the_build_time(built: Site) -> None:
    parsed = feedparser.parse((built.feeds / "atom.xml").read_bytes())
    newest = max(expected_public_articles(built).values(), key=lambda a: a.date)
    assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC) >= newest.date
    assert parsed.feed.updated_parsed[:3] == (2026, 11, 23)


def test_building_twice_gives_identical_bytes_and_rewrites_nothing(
    built: Site, store: Store
) -> None:
    files = sorted(p for p in built.feeds.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    report = build(store, built.config())
    assert report.written == []
    assert len(report.unchanged) == len(before)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    assert after == before


def test_a_fresh_store_from_the_same_content_gives_identical_feeds(
    built: Site, tmp_path: Path, clock: MovableClock
) -> None:
    from publisher.store.database import open_store

    first = {p.relative_to(built.feeds): p.read_bytes() for p in all_feed_files(built.feeds)}
    clock.advance(days=1)  # a later gather time must not leak into the output
    with open_store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        gather(other, built.config(), clock)
        build(other, built.config())
    second = {p.relative_to(built.feeds): p.read_bytes() for p in all_feed_files(built.feeds)}
    assert second == first


def test_edited_article_shows_new_updated_date_and_same_guid(
    built: Site, store: Store, clock: MovableClock
) -> None:
    def entry_for(slug: str) -> feedparser.FeedParserDict:
        feed = feedparser.parse(built.feeds / "atom.xml")
        return next(e for e in feed.entries if e.link.endswith(f"/{slug}/"))

    before = entry_for("coastal-path-reopens")
    path = built.content / "news" / "coastal-path-reopens.md"
    path.write_text(path.read_text().replace("\n\n", "\n\nA late correction.\n\n", 1))
    clock.advance(hours=1)
    gather(store, built.config(), clock)
    build(store, built.config())
    after = entry_for("coastal-path-reopens")
    assert after.id == before.id
    assert after.updated_parsed > before.updated_parsed
    assert datetime(*after.updated_parsed[:6], tzinfo=UTC) == clock.now.replace(microsecond=0)


def test_removed_category_loses_its_feed_folder(
    built: Site, store: Store, clock: MovableClock
) -> None:
    for path in built.content.rglob("*.md"):
        text = path.read_text()
        path.write_text(text.replace("Science", "News"))
    gather(store, built.config(), clock)
    report = build(store, built.config())
    assert not (built.feeds / "categories" / "science").exists()
    assert "categories/science/rss.xml" in report.removed


def test_max_items_caps_every_feed(built: Site, store: Store) -> None:
    text = built.config_path.read_text().replace("max_items = 50", "max_items = 3")
    # The site feed also holds the articles past the last full archive page: fewer than 3.
    text = text.replace("archive_page_size = 5", "archive_page_size = 3")
    built.config_path.write_text(text)
    build(store, built.config())
    for path in all_feed_files(built.feeds):
        assert len(feedparser.parse(path.read_bytes()).entries) <= 3


def test_only_the_configured_formats_are_written(built: Site, store: Store) -> None:
    text = built.config_path.read_text().replace('["rss", "atom", "json"]', '["atom"]')
    built.config_path.write_text(text)
    report = build(store, built.config())
    assert {p.name for p in all_feed_files(built.feeds)} == {"atom.xml"}
    assert "rss.xml" in report.removed


# Hostile text --------------------------------------------------------------------------------

HOSTILE_TITLES = [
    "<script>alert('x')</script> & friends",
    "Ends a CDATA ]]> section",
    'Tom & Jerry\'s "quotes" <b>bold</b>',
    "Emoji 🌊🎉 and right-to-left: שלום עולם مرحبا",
    "Control\x01chars\x0bgone\x1f",
]


def one_article(
    title: str, body_html: str = "<p>Body</p>", summary: str = "A summary"
) -> PublishedArticle:
    date = datetime(2026, 11, 1, 9, tzinfo=UTC)
    article = Article(
        source="news/x.md",
        key=None,
        slug="x",
        url="https://gazette.example.org/articles/x/",
        title=title,
        date=date,
        updated=None,
        authors=(Author(title or "Anonymous"),),
        summary=summary,
        body_html=body_html,
        image=Image(
            "https://gazette.example.org/media/x.jpg", alt=title, length=10, media_type="image/jpeg"
        ),
        categories=(Category(title or "c", "c"),),
        tags=("t",),
        draft=False,
    )
    return PublishedArticle(
        guid="tag:gazette.example.org,2026-11-01:x", sequence=1, updated=date, article=article
    )


def parsed_feeds(
    config: Config, published: PublishedArticle
) -> dict[str, feedparser.FeedParserDict]:
    [spec, *_] = feed_specs(config, [published])
    return {
        "rss": feedparser.parse(render_rss(spec)),
        "atom": feedparser.parse(render_atom(spec)),
        "json": json.loads(render_json_feed(spec)),
    }


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_title_parses_back_as_the_same_text(site: Site, title: str) -> None:
    feeds = parsed_feeds(site.config(), one_article(title, summary=title))
    expected = strip_forbidden_characters(title)
    for name in ("rss", "atom"):
        assert feeds[name].bozo == 0
        assert feeds[name].entries[0].title == expected
        summary = feeds[name].entries[0].summary_detail
        shown = html.unescape(summary.value) if summary.type == "text/html" else summary.value
        assert shown == expected
    assert feeds["json"]["items"][0]["title"] == title


def test_hostile_body_stays_inert_after_sanitizing(site: Site) -> None:
    from publisher.content.markup import render_markdown

    body = render_markdown(
        "<script>alert(1)</script>\n\n"
        "<img src=x onerror=alert(1)> ]]> & <a href='javascript:x'>y</a>",
        lambda url: url,
    )
    feeds = parsed_feeds(site.config(), one_article("Body test", body_html=body))
    for name in ("rss", "atom"):
        content = feeds[name].entries[0].content[0].value
        assert "<script" not in content
        assert "onerror" not in content
        assert "javascript:" not in content
        assert "]]&gt; &amp;" in content  # kept as text, escaped as HTML


xml_text = st.text(st.characters(codec="utf-8"), max_size=200)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=xml_text, body=xml_text, summary=xml_text)
def test_any_article_yields_well_formed_feeds(
    site: Site, title: str, body: str, summary: str
) -> None:
    from publisher.content.markup import render_markdown

    config = site.config()
    published = one_article(title, render_markdown(body, lambda url: url), summary)
    specs = feed_specs(config, [published])
    for path, data in render_feeds(specs, ("rss", "atom", "json")).items():
        if path.startswith("podcast/"):  # the article has no audio: an empty podcast feed
            assert not feedparser.parse(data).entries if path.endswith(".xml") else True
            continue
        if path.endswith(".xml"):
            tree = etree.fromstring(data)
            parsed = feedparser.parse(data)
            assert parsed.bozo == 0, parsed.get("bozo_exception")
            # lxml, not feedparser, reads the title back: feedparser "repairs" mojibake.
            [title_element] = tree.xpath(
                "//*[local-name()='item' or local-name()='entry']/*[local-name()='title']"
            )
            assert (title_element.text or "") == (
                strip_forbidden_characters(title).strip() or "Untitled"
            )
        else:
            assert json.loads(data)["items"][0]["id"] == published.guid


# One entry's rules, decided once for every format ------------------------------------------


def spec_for(site: Site, published: PublishedArticle, **changes: Any) -> FeedSpec:
    """The sample site's own feed of `published` alone, or its podcast feed with `podcast=True`."""
    specs = feed_specs(site.config(), [published])
    podcast = changes.pop("podcast", False)
    spec = next(spec for spec in specs if (spec.podcast is not None) == podcast)
    return replace(spec, **changes)


def with_article(published: PublishedArticle, **changes: Any) -> PublishedArticle:
    return replace(published, article=replace(published.article, **changes))


def test_full_feed_item_has_html_content_and_no_text_content(site: Site) -> None:
    published = one_article("Title", summary="")
    item = feed_item(published, spec_for(site, published))
    assert item.content_html is not None
    assert item.content_html.endswith("<p>Body</p>")
    assert item.content_text is None
    assert item.teaser == "Title"  # no summary: the title stands for the article


def test_summary_feed_item_shows_the_summary_else_the_title_as_text(site: Site) -> None:
    published = one_article("Title", summary="The gist")
    item = feed_item(published, spec_for(site, published, content="summary"))
    assert (item.content_html, item.content_text) == (None, "The gist")
    untold = with_article(published, summary="")
    assert feed_item(untold, spec_for(site, untold, content="summary")).content_text == "Title"


def test_item_without_authors_is_credited_to_the_feed_author(site: Site) -> None:
    published = with_article(one_article("Title"), authors=())
    spec = spec_for(site, published)
    assert feed_item(published, spec).authors == (spec.author,)
    assert spec.author.name == "The Harbour Gazette newsroom"


def test_item_encloses_the_audio_before_the_image_each_with_a_media_type(site: Site) -> None:
    audio = Audio("https://gazette.example.org/media/x.mp3", duration=61, length=None)
    published = with_article(one_article("Title"), audio=audio)
    item = feed_item(published, spec_for(site, published))
    assert item.enclosures == (
        Enclosure("https://gazette.example.org/media/x.mp3", UNKNOWN_MEDIA_TYPE, None, 61),
        Enclosure("https://gazette.example.org/media/x.jpg", "image/jpeg", 10),
    )
    assert item.audio == item.enclosures[0]
    assert not item.episode  # iTunes episode tags belong to the podcast feed alone
    assert feed_item(published, spec_for(site, published, podcast=True)).episode


def test_rss_encloses_only_the_audio_where_atom_and_json_enclose_both(site: Site) -> None:
    audio = Audio("https://gazette.example.org/media/x.mp3", media_type="audio/mpeg")
    published = with_article(one_article("Title"), audio=audio)
    spec = spec_for(site, published)
    rss = feedparser.parse(render_rss(spec)).entries[0]
    atom = feedparser.parse(render_atom(spec)).entries[0]
    json_item = json.loads(render_json_feed(spec))["items"][0]
    image = "https://gazette.example.org/media/x.jpg"
    assert [e.href for e in rss.enclosures] == [audio.url]
    assert [e.href for e in atom.enclosures] == [audio.url, image]
    assert [a["url"] for a in json_item["attachments"]] == [audio.url, image]
