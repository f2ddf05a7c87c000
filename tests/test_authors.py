"""Author profiles: parsing, matching to articles, gathering, author pages and author feeds."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.content.articles import Article, Author, MediaFile, PublishedArticle, SiteSettings
from publisher.content.authors import (
    AuthorDirectory,
    AuthorProfile,
    ProfileLink,
    parse_profile,
)
from publisher.errors import ContentError
from publisher.site.build import build
from publisher.site.gather import check_content, gather
from publisher.store.articles import public_articles
from publisher.store.database import open_store
from publisher.store.profiles import profiles
from publisher.urls import author_page_url
from tests.conftest import MovableClock, Site
from tests.test_web import Web, assert_inert, document, page_text, published, running

SITE = SiteSettings(
    url="https://news.example.org/",
    timezone=ZoneInfo("Europe/London"),
    article_url="/articles/{slug}/",
    media_url="https://news.example.org/media/",
)


def media(relative: str) -> MediaFile | None:
    known = {"authors/ada.jpg": MediaFile(1200, "image/jpeg"), "authors/notes.txt": None}
    return known.get(relative)


def parse(text: str, source: str = "authors/ada-lovelace.md") -> AuthorProfile:
    return parse_profile(source, text.encode(), SITE, media)


def failure(text: str) -> ContentError:
    with pytest.raises(ContentError) as caught:
        parse(text)
    return caught.value


# Parsing ----------------------------------------------------------------------------------


def test_profile_reads_name_bio_avatar_url_email_and_links() -> None:
    profile = parse(
        "---\nname: Ada Lovelace\navatar: ada.jpg\nurl: https://ada.example.com/\n"
        "email: ada@example.org\nlinks:\n  mastodon: https://mastodon.example/@ada\n"
        "  bluesky: https://bsky.example/profile/ada\n---\n"
        "Ada writes about *engines*. <script>alert(1)</script>\n"
    )
    assert profile.slug == "ada-lovelace"
    assert profile.name == "Ada Lovelace"
    assert profile.avatar == "https://news.example.org/media/authors/ada.jpg"
    assert profile.url == "https://ada.example.com/"
    assert profile.email == "ada@example.org"
    assert profile.links == (
        ProfileLink("Mastodon", "https://mastodon.example/@ada"),
        ProfileLink("Bluesky", "https://bsky.example/profile/ada"),
    )
    assert "<em>engines</em>" in profile.bio_html
    assert "<script" not in profile.bio_html


def test_profile_links_may_be_a_list_of_names_and_urls() -> None:
    profile = parse(
        '+++\nname = "Ada"\navatar = "https://cdn.example/ada.png"\n'
        '[[links]]\nname = "PeerTube"\nurl = "https://video.example/ada"\n+++\nBio.\n'
    )
    assert profile.links == (ProfileLink("PeerTube", "https://video.example/ada"),)
    assert profile.avatar == "https://cdn.example/ada.png"


def test_profile_without_a_name_is_refused_at_line_one() -> None:
    error = failure("---\navatar: ada.jpg\n---\nBio.\n")
    assert (error.path, error.line) == ("authors/ada-lovelace.md", 1)
    assert "name" in error.message


def test_profile_with_a_bad_link_names_its_line() -> None:
    error = failure("---\nname: Ada\nlinks:\n  mastodon: javascript:alert(1)\n---\nBio.\n")
    assert error.line == 3
    assert "http(s)" in error.message


def test_profile_with_a_missing_avatar_file_names_its_line() -> None:
    error = failure("---\nname: Ada\nurl: https://ada.example.com/\navatar: gone.jpg\n---\n")
    assert error.line == 4
    assert "authors/gone.jpg" in error.message


def test_profile_with_a_bad_email_names_its_line() -> None:
    error = failure("---\nname: Ada\nemail: not an address\n---\n")
    assert (error.line, error.message.split(":")[0]) == (3, "email")


def test_profile_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ContentError) as caught:
        parse_profile("authors/x.md", b"---\nname: \xff\n---\n", SITE, media)
    assert caught.value.line == 2


# Matching ---------------------------------------------------------------------------------

ADA = AuthorProfile("authors/ada-lovelace.md", "ada-lovelace", "Ada Lovelace", "<p>Bio</p>")


def published_by(*names: str, slug: str = "engines", day: int = 1) -> PublishedArticle:
    date = datetime(2026, 11, day, tzinfo=UTC)
    article = Article(
        source=f"{slug}.md",
        key=None,
        slug=slug,
        url=f"https://news.example.org/articles/{slug}/",
        title=slug.title(),
        date=date,
        updated=None,
        authors=tuple(Author(name, url="https://elsewhere.example/") for name in names),
        summary="",
        body_html="",
        image=None,
        categories=(),
        tags=(),
        draft=False,
    )
    return PublishedArticle(f"tag:news.example.org,2026:{slug}", day, date, article)


@pytest.mark.parametrize("name", ["Ada Lovelace", "ada lovelace", "ada-lovelace", "ADA LOVELACE"])
def test_article_author_matches_a_profile_by_name_or_slug(name: str) -> None:
    directory = AuthorDirectory([ADA], SITE.url)
    [byline] = directory.bylines([Author(name)])
    assert byline.profile == ADA
    assert (byline.name, byline.page_url) == (
        "Ada Lovelace",
        "https://news.example.org/authors/ada-lovelace/",
    )


def test_author_without_a_profile_still_has_a_page_under_the_slug_of_their_name() -> None:
    directory = AuthorDirectory([ADA], SITE.url)
    [byline] = directory.bylines([Author("Charles Babbage")])
    assert byline.profile is None
    assert byline.page_url == author_page_url(SITE.url, "charles-babbage")


def test_linked_article_points_its_authors_at_their_pages() -> None:
    directory = AuthorDirectory([ADA], SITE.url)
    linked = directory.linked(published_by("ada-lovelace", "Charles Babbage"))
    assert [(a.name, a.url) for a in linked.article.authors] == [
        ("Ada Lovelace", "https://news.example.org/authors/ada-lovelace/"),
        ("Charles Babbage", "https://news.example.org/authors/charles-babbage/"),
    ]


def test_groups_hold_every_profile_and_named_author_with_articles_newest_first() -> None:
    directory = AuthorDirectory([ADA], SITE.url)
    older = published_by("Ada Lovelace", slug="older", day=1)
    newer = published_by("ada-lovelace", "Charles Babbage", slug="newer", day=2)
    groups = {group.byline.slug: group for group in directory.groups([older, newer])}
    assert sorted(groups) == ["ada-lovelace", "charles-babbage"]
    assert [p.article.slug for p in groups["ada-lovelace"].entries] == ["newer", "older"]
    assert [p.article.slug for p in groups["charles-babbage"].entries] == ["newer"]


# Gathering --------------------------------------------------------------------------------

BROKEN_PROFILE = "---\nname: Broken\nurl: ftp://nowhere\n---\nBio.\n"


def test_authors_folder_is_not_read_as_articles(site: Site, clock: MovableClock) -> None:
    site.write_article("authors/notes/ideas.md", "not even front matter")
    articles, errors = check_content(site.config())
    assert errors == []
    assert not any(article.source.startswith("authors/") for article in articles)
    config = site.config()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        with store.transaction() as connection:
            stored = profiles(connection)
            sources = {p.article.source for p in public_articles(connection)}
    assert len(stored) == 7
    assert not any(source.startswith("authors/") for source in sources)


def test_broken_profile_names_its_file_and_line_and_the_rest_publish(
    site: Site, clock: MovableClock
) -> None:
    site.write_article("authors/broken.md", BROKEN_PROFILE)
    config = site.config()
    _, checked = check_content(config)
    assert [(e.path, e.line) for e in checked] == [("authors/broken.md", 3)]
    with open_store(config.store_url) as store:
        report = gather(store, config, clock)
        with store.transaction() as connection:
            slugs = [profile.slug for profile in profiles(connection)]
    assert [(e.path, e.line) for e in report.errors] == [("authors/broken.md", 3)]
    assert "broken" not in slugs
    assert "mara-quinn" in slugs


def test_unchanged_profile_is_skipped_edited_one_stored_deleted_one_removed(
    site: Site, clock: MovableClock
) -> None:
    config = site.config()
    folder = site.content / "authors"
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        # Same size and time as before: not read again, so even a broken text goes unseen.
        mara = folder / "mara-quinn.md"
        stat = mara.stat()
        mara.write_text(BROKEN_PROFILE.ljust(stat.st_size, "\n")[: stat.st_size])
        os.utime(mara, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert gather(store, config, clock).errors == []
        sam = folder / "sam-okafor.md"
        sam.write_text(sam.read_text().replace("Sam Okafor\n", "Samuel Okafor\n", 1))
        (folder / "tom-reyes.md").unlink()
        assert gather(store, config, clock).errors == []
        with store.transaction() as connection:
            names = {profile.slug: profile.name for profile in profiles(connection)}
    assert names["sam-okafor"] == "Samuel Okafor"
    assert names["mara-quinn"] == "Mara Quinn"
    assert "tom-reyes" not in names


def test_two_profiles_of_one_name_are_reported(site: Site, clock: MovableClock) -> None:
    site.write_article("authors/mara.md", "---\nname: Mara Quinn\n---\nAnother.\n")
    config = site.config()
    with open_store(config.store_url) as store:
        report = gather(store, config, clock)
    assert [e.path for e in report.errors] == ["authors/mara.md"]
    assert "authors/mara-quinn.md" in report.errors[0].message


# Author pages and feeds -------------------------------------------------------------------


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    yield from running(published(site, None, clock), clock)


def test_author_page_shows_bio_avatar_links_articles_and_feeds(web: Web) -> None:
    response = web.client.get("/authors/mara-quinn/")
    assert response.status_code == 200
    page = document(response)
    assert page.xpath("string(//h1)") == "Mara Quinn"
    assert "covers the harbour and transport" in page_text(response)
    assert page.xpath("//header//img[@class='avatar']/@src") == [
        "https://gazette.example.org/media/authors/mara-quinn.jpg"
    ]
    assert "https://mastodon.example/@maraquinn" in page.xpath("//ul[@class='author-links']//@href")
    titles = page.xpath("//li[contains(@class, 'story')]//*[self::h2 or self::h3]/a/text()")
    assert titles == [
        "Harbour dredging to begin in March after council vote",
        "Winter ferry timetable cuts evening sailings to Hesketh Island",
    ]
    feeds = page.xpath("//link[@rel='alternate']/@href")
    assert "https://gazette.example.org/feeds/authors/mara-quinn/atom.xml" in feeds
    assert web.client.get("/media/authors/mara-quinn.jpg").status_code == 200


def test_author_page_of_nobody_is_404(web: Web) -> None:
    assert web.client.get("/authors/nobody-at-all/").status_code == 404


def test_author_feeds_hold_their_articles_and_link_the_author_page(site: Site, web: Web) -> None:
    folder = site.feeds / "authors" / "mara-quinn"
    page = "https://gazette.example.org/authors/mara-quinn/"
    atom = feedparser.parse((folder / "atom.xml").read_bytes())
    assert atom.bozo == 0
    assert atom.feed.author_detail.href == page
    assert atom.feed.link == page
    assert len(atom.entries) == 2
    assert {entry.author_detail.href for entry in atom.entries} == {page}
    rss = feedparser.parse((folder / "rss.xml").read_bytes())
    assert rss.bozo == 0
    assert {entry.author for entry in rss.entries} == {"Mara Quinn"}
    json_feed = json.loads((folder / "feed.json").read_bytes())
    assert json_feed["home_page_url"] == page
    assert {item["authors"][0]["url"] for item in json_feed["items"]} == {page}


def test_site_feed_links_every_local_author_to_their_page(site: Site, web: Web) -> None:
    atom = feedparser.parse((site.feeds / "atom.xml").read_bytes())
    for entry in atom.entries:
        for author in entry.authors:
            assert author["href"].startswith("https://gazette.example.org/authors/")
            path = author["href"].removeprefix("https://gazette.example.org")
            assert web.client.get(path).status_code == 200, path


def test_build_removes_the_feeds_of_a_vanished_author(
    site: Site, clock: MovableClock, web: Web
) -> None:
    folder = site.feeds / "authors" / "hana-mori"
    assert (folder / "atom.xml").is_file()
    (site.content / "authors" / "hana-mori.md").unlink()
    for source in ("culture/port-alder-twins-with-oarai.md", "culture/sea-shanty-choir-album.md"):
        (site.content / source).unlink()
    report = gather(web.store, web.config, clock)
    assert report.errors == []
    removed = build(web.store, web.config).removed
    assert "authors/hana-mori/atom.xml" in removed
    assert not folder.exists()


# The article page -------------------------------------------------------------------------


def test_article_byline_links_the_author_page_and_the_page_ends_with_bio_boxes(
    web: Web,
) -> None:
    response = web.client.get("/articles/lantern-festival-returns/")
    page = document(response)
    assert page.xpath("//p[@class='byline']//a[@rel='author']/@href") == [
        "https://gazette.example.org/authors/jonah-whitlock/",
        "https://gazette.example.org/authors/tom-reyes/",
    ]
    boxes = page.xpath("//aside[@class='author-box']")
    assert [box.xpath("string(.//h2)") for box in boxes] == ["Jonah Whitlock", "Tom Reyes"]
    assert boxes[1].xpath(".//img[@class='avatar']/@src") == [
        "https://gazette.example.org/media/authors/tom-reyes.jpg"
    ]
    assert "photographer" in lxml.html.tostring(boxes[1], encoding="unicode")
    assert boxes[1].xpath(".//a[@rel='me']/@href") == ["https://tomreyes.example.com/"]


def test_article_page_lists_the_related_articles_chosen_in_front_matter(web: Web) -> None:
    page = document(web.client.get("/articles/harbour-dredging-march/"))
    assert page.xpath("//section[@class='related']//a/@href") == [
        "https://gazette.example.org/articles/winter-ferry-timetable/",
        "https://gazette.example.org/articles/boatyard-apprentices/",
        "https://gazette.example.org/articles/tide-gauge-record-surge/",
    ]
    assert len(page.xpath("//section[@class='related']//img")) == 3


def test_article_page_lists_three_computed_related_articles(web: Web) -> None:
    page = document(web.client.get("/articles/coastal-path-reopens/"))
    links = page.xpath("//section[@class='related']//a/@href")
    assert len(links) == 3
    assert "https://gazette.example.org/articles/coastal-path-reopens/" not in links


def test_article_page_carries_news_article_json_ld(web: Web) -> None:
    page = document(web.client.get("/articles/harbour-dredging-march/"))
    [script] = page.xpath("//script[@type='application/ld+json']")
    data = json.loads(script.text)
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == "Harbour dredging to begin in March after council vote"
    assert data["image"] == ["https://gazette.example.org/media/images/harbour-dredger.jpg"]
    assert data["datePublished"] == "2026-11-02T08:30:00+00:00"
    assert data["dateModified"] == "2026-11-20T09:00:00+00:00"
    assert data["author"] == [
        {
            "@type": "Person",
            "name": "Mara Quinn",
            "url": "https://gazette.example.org/authors/mara-quinn/",
        }
    ]
    assert data["publisher"]["name"] == "The Harbour Gazette"
    assert data["publisher"]["logo"]["url"] == "https://gazette.example.org/media/images/logo.png"


@given(st.text(max_size=40), st.text(max_size=200))
def test_any_profile_text_gives_a_profile_or_a_located_error(name: str, bio: str) -> None:
    text = f"---\nname: {json.dumps(name)}\n---\n{bio}\n"
    try:
        profile = parse(text)
    except ContentError as error:
        failed = error
    else:
        assert profile.name == " ".join(profile.name.split())
        assert profile.name
        assert "<script" not in profile.bio_html.lower()
        return
    assert failed.path == "authors/ada-lovelace.md"
    assert failed.line >= 1


HOSTILE_PROFILE = """---
name: "<script>alert('name')</script>Eve"
avatar: "javascript:alert('avatar')"
---
Bio <script>alert('bio')</script> <img src=x onerror=alert(1)> <a href="javascript:alert(2)">x</a>
"""


def test_hostile_profile_is_refused_or_inert(site: Site, clock: MovableClock) -> None:
    site.write_article("authors/eve.md", HOSTILE_PROFILE)
    config = site.config()
    with open_store(config.store_url) as store:
        report = gather(store, config, clock)
    assert [(e.path, e.line) for e in report.errors] == [("authors/eve.md", 3)]
    site.write_article("authors/eve.md", HOSTILE_PROFILE.replace("avatar:", "nothing:"))
    site.write_article(
        "news/by-eve.md",
        "---\ntitle: By Eve\ndate: 2026-11-24T09:00:00Z\nauthor: eve\n---\nText.\n",
    )
    for web in running(published(site, None, clock), clock):  # one app, closed after
        for path in ("/authors/eve/", "/articles/by-eve/"):
            response = web.client.get(path)
            assert response.status_code == 200, path
            assert_inert(response)
            assert "<script>alert('name')</script>Eve" in page_text(response)


def test_profile_without_articles_has_a_page_and_empty_feeds_that_parse(
    site: Site, clock: MovableClock
) -> None:
    site.write_article("authors/new-writer.md", "---\nname: New Writer\n---\nJust joined.\n")
    for web in running(published(site, None, clock), clock):
        response = web.client.get("/authors/new-writer/")
        assert response.status_code == 200
        assert "No articles yet." in page_text(response)
        feeds = document(response).xpath("//p[@class='meta']/a/@href")
        assert len(feeds) == 3
        for href in feeds:
            path = href.removeprefix("https://gazette.example.org")
            feed = web.client.get(path)
            assert feed.status_code == 200, path
            if path.endswith(".xml"):
                parsed = feedparser.parse(feed.content)
                assert parsed.bozo == 0, path
                assert parsed.feed.title == "The Harbour Gazette: New Writer"
            else:
                assert feed.json()["items"] == []


def test_author_whose_name_makes_no_slug_is_shown_without_a_page() -> None:
    directory = AuthorDirectory([ADA], SITE.url)
    bylines = directory.bylines([Author("——"), Author("Ada Lovelace")])
    assert [(b.name, b.page_url) for b in bylines] == [
        ("——", ""),
        ("Ada Lovelace", "https://news.example.org/authors/ada-lovelace/"),
    ]
    groups = directory.groups([published_by("——", "Ada Lovelace")])
    assert [group.byline.slug for group in groups] == ["ada-lovelace"]
