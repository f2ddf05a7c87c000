"""The site as readers and search engines see it: navigation, the home page and its older pages,
the article list, categories, tags, the archive, the sitemap, robots.txt, the favicon, ETags."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import lxml.etree
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from publisher.config import SiteImage
from publisher.content.articles import category_slug
from publisher.mail.editions import create_edition
from publisher.site.gather import gather
from publisher.site.sitemap import w3c_datetime
from publisher.site.static import StaticPage
from publisher.store.articles import count_articles, public_articles
from publisher.store.statuses import ArticleStatus
from publisher.web.archive import dressed_edition
from publisher.web.icons import favicon_ico
from publisher.web.navigation import PER_PAGE, page_count, page_number
from publisher.web.site import WebSite
from publisher.web.static_pages import StaticPages
from tests.conftest import REPO, MovableClock, Site
from tests.test_web import ENVIRON, SITE_URL, Web, document, page_text, published, running

SITEMAP_SCHEMA = REPO / "tests" / "sitemap.xsd"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    """The sample site, gathered, built and with one daily edition, served from SQLite."""
    yield from running(published(site, None, clock), clock)


def path(url: str) -> str:
    return urlsplit(url).path


def public_count(web: Web) -> int:
    with web.store.transaction() as connection:
        return count_articles(connection, ArticleStatus.PUBLIC)


def story_links(web: Web, page_path: str) -> list[str]:
    page = document(web.client.get(page_path))
    return [str(link) for link in page.xpath("//li[@class='story']//h2/a/@href")]


# Navigation and icons on every page ---------------------------------------------------------

EVERY_PAGE = [
    "/",
    "/page/2/",
    "/articles/",
    "/articles/page/2/",
    "/categories/",
    "/categories/news/",
    "/tags/harbour/",
    "/archive/",
    "/articles/harbour-dredging-march/",
    "/no/such/page",
]


@pytest.mark.parametrize("page_path", EVERY_PAGE)
def test_every_page_has_the_navigation_logo_and_icons(web: Web, page_path: str) -> None:
    page = document(web.client.get(page_path))
    nav = page.xpath("//nav[@class='site-nav']")[0]
    links = {str(a.text_content()).strip(): a.get("href") for a in nav.xpath(".//a")}
    assert links == {
        "Home": SITE_URL,
        "Articles": f"{SITE_URL}articles/",
        "Categories": f"{SITE_URL}categories/",
        "Archive": f"{SITE_URL}archive/",
    }
    # The Subscribe button sits beside the sections, in the masthead's one row.
    assert page.xpath(
        "//header[@class='masthead']//a[contains(@class, 'nav-subscribe')]/@href"
    ) == [f"{SITE_URL}#subscribe"]
    assert page.xpath("//a[@class='site-title']/img[@class='logo']/@src") == [
        f"{SITE_URL}media/images/logo.png"
    ]
    assert page.xpath("//a[@class='site-title']/img/@alt") == ["The Harbour Gazette"]
    with Image.open(web.config.content_dir / "images/logo.png") as logo:
        size = [str(logo.width), str(logo.height)]
    assert page.xpath("//img[@class='logo']/@width | //img[@class='logo']/@height") == size
    assert page.xpath("//link[@rel='apple-touch-icon']/@href") == [
        f"{SITE_URL}media/images/icon.png"
    ]
    assert set(page.xpath("//link[@rel='icon']/@href")) == {
        f"{SITE_URL}favicon.ico",
        f"{SITE_URL}media/images/icon.png",
    }


def test_navigation_marks_the_page_the_reader_is_on(web: Web) -> None:
    page = document(web.client.get("/categories/"))
    assert page.xpath("//nav[@class='site-nav']//a[@aria-current='page']/text()") == ["Categories"]


def test_site_without_a_logo_shows_its_title_in_the_masthead(
    site: Site, clock: MovableClock
) -> None:
    config = dataclasses.replace(published(site, None, clock), logo=None, icon=None)
    for web in running(config, clock):
        page = document(web.client.get("/articles/"))
        assert page.xpath("//a[@class='site-title']/text()") == ["The Harbour Gazette"]
        assert page.xpath("//link[@rel='icon' or @rel='apple-touch-icon']") == []
        assert web.client.get("/favicon.ico").status_code == 404


# The home page and its older pages ----------------------------------------------------------


def test_home_page_leads_with_the_newest_story_its_image_and_excerpt(web: Web) -> None:
    with web.store.transaction() as connection:
        newest = public_articles(connection, 1)[0].article
    page = document(web.client.get("/"))
    lead = page.xpath("//article[contains(@class, 'lead-story')]")[0]
    assert lead.xpath(".//h2/a/@href") == [newest.url]
    assert newest.image is not None
    assert lead.xpath(".//img[@class='lead-image']/@src") == [newest.image.url]
    assert lead.xpath(".//img/@alt") == [newest.image.alt]
    assert newest.summary in lead.xpath(".//p[@class='dek']/text()")


def test_home_page_lists_the_next_stories_with_excerpts_and_thumbnails(web: Web) -> None:
    with web.store.transaction() as connection:
        first_page = [p.article for p in public_articles(connection, PER_PAGE)]
    page = document(web.client.get("/"))
    stories = page.xpath("//li[@class='story']")
    assert [s.xpath(".//h2/a/@href")[0] for s in stories] == [a.url for a in first_page[1:]]
    for story, article in zip(stories, first_page[1:], strict=True):
        assert article.summary in story.xpath(".//p/text()")
        thumbnails = story.xpath(".//img[@class='thumb']/@src")
        assert thumbnails == ([article.image.url] if article.image else [])


def test_home_page_links_older_pages_which_list_every_other_story_once(web: Web) -> None:
    pages = page_count(public_count(web))
    assert pages >= 2
    seen = [
        str(
            document(web.client.get("/")).xpath(
                "//article[contains(@class, 'lead-story')]//h2/a/@href"
            )[0]
        )
    ]
    seen += story_links(web, "/")
    next_link = document(web.client.get("/")).xpath("//nav[@class='pager']/a[@rel='next']/@href")
    assert next_link == [f"{SITE_URL}page/2/"]
    for number in range(2, pages + 1):
        seen += story_links(web, f"/page/{number}/")
    with web.store.transaction() as connection:
        assert seen == [p.article.url for p in public_articles(connection)]


def test_second_page_links_back_and_says_where_it_is(web: Web) -> None:
    response = web.client.get("/page/2/")
    page = document(response)
    assert page.xpath("//nav[@class='pager']/a[@rel='prev']/@href") == [SITE_URL]
    assert page.xpath("//link[@rel='canonical']/@href") == [f"{SITE_URL}page/2/"]
    assert "Page 2 of" in page_text(response)


def test_first_page_redirects_to_the_home_page(web: Web) -> None:
    response = web.client.get("/page/1/", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/"
    response = web.client.get("/articles/page/1/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (301, "/articles/")


@pytest.mark.parametrize("number", ["0", "02", "+2", "x", "²", "9999999", "99"])
def test_page_past_the_end_or_not_a_number_is_404(web: Web, number: str) -> None:
    for prefix in ("/page/", "/articles/page/"):
        response = web.client.get(f"{prefix}{number}/", follow_redirects=False)
        assert response.status_code == 404, prefix
        assert "Page not found" in page_text(response)


def test_page_numbers_are_read_strictly() -> None:
    assert [page_number(text) for text in ("1", "12", "0", "01", "1a", "", "٣")] == [
        1,
        12,
        None,
        None,
        None,
        None,
        None,
    ]
    assert [page_count(total) for total in (0, 1, PER_PAGE, PER_PAGE + 1)] == [1, 1, 1, 2]


# Every article, categories and tags ---------------------------------------------------------


def test_article_list_pages_hold_every_article_newest_first(web: Web) -> None:
    seen: list[str] = []
    for number in range(1, page_count(public_count(web)) + 1):
        seen += story_links(web, "/articles/" if number == 1 else f"/articles/page/{number}/")
    with web.store.transaction() as connection:
        assert seen == [p.article.url for p in public_articles(connection)]


def test_article_called_page_keeps_its_url_beside_the_list_pages(web: Web, site: Site) -> None:
    site.write_article(
        "news/page.md", "---\ntitle: A story called Page\ndate: 2026-11-20T10:00:00\n---\nBody.\n"
    )
    gather(web.store, web.config, web.clock)
    assert "A story called Page" in page_text(web.client.get("/articles/page/"))
    assert "All articles, page 2" in page_text(web.client.get("/articles/page/2/"))


def test_categories_page_counts_the_stories_on_each_category_page(web: Web) -> None:
    page = document(web.client.get("/categories/"))
    entries = page.xpath("//ul[@class='listing']/li")
    assert len(entries) >= 4
    for entry in entries:
        url = str(entry.xpath("./a/@href")[0])
        count = int(str(entry.xpath("./span[@class='meta']/text()")[0]).split()[0])
        assert len(story_links(web, path(url))) == count, url


def test_article_tags_link_to_tag_pages_that_list_the_article(web: Web) -> None:
    article_url = f"{SITE_URL}articles/harbour-dredging-march/"
    page = document(web.client.get(path(article_url)))
    tags = page.xpath("//p[@class='tags']/a[@rel='tag']")
    assert [t.text for t in tags] == ["harbour", "council", "transport"]
    for tag in tags:
        assert tag.get("href") == f"{SITE_URL}tags/{tag.text}/"
        assert article_url in story_links(web, path(tag.get("href")))


def test_tag_page_lists_exactly_the_articles_with_that_tag(web: Web) -> None:
    with web.store.transaction() as connection:
        expected = [
            p.article.url
            for p in public_articles(connection)
            if any(category_slug(tag) == "council" for tag in p.article.tags)
        ]
    assert len(expected) >= 2
    assert story_links(web, "/tags/council/") == expected
    assert web.client.get("/tags/no-such-tag/").status_code == 404


# The archive --------------------------------------------------------------------------------


def second_edition(web: Web, site: Site) -> None:
    site.write_article(
        "news/later.md", "---\ntitle: A later story\ndate: 2026-11-25T13:00:00Z\n---\nNews.\n"
    )
    web.clock.advance(days=1)
    gather(web.store, web.config, web.clock)
    outcome = create_edition(web.store, web.config, "daily", web.clock)
    assert outcome.edition is not None


def test_archive_lists_each_digests_editions_newest_first(web: Web, site: Site) -> None:
    create_edition(web.store, web.config, "culture", web.clock)
    second_edition(web, site)
    page = document(web.client.get("/archive/"))
    sections = page.xpath("//section[h2]")
    assert [s.findtext("h2") for s in sections] == [
        "The Harbour Gazette Daily",
        "Port Alder Culture Weekly",
    ]
    assert sections[0].xpath(".//a/@href") == [
        f"{SITE_URL}archive/daily/2.html",
        f"{SITE_URL}archive/daily/1.html",
    ]
    assert sections[1].xpath(".//a/@href") == [f"{SITE_URL}archive/culture/1.html"]
    for href in page.xpath("//main//a/@href"):
        assert web.client.get(path(str(href))).status_code == 200


def test_archived_edition_has_open_graph_tags_and_a_subscribe_link(web: Web) -> None:
    on_disk = (web.config.archive_dir / "daily/1.html").read_bytes()
    response = web.client.get("/archive/daily/1.html")
    page = document(response)
    url = f"{SITE_URL}archive/daily/1.html"

    def meta(key: str) -> list[str]:
        return [str(v) for v in page.xpath(f"//meta[@property='{key}' or @name='{key}']/@content")]

    assert meta("og:url") == [url]
    assert meta("og:title") == [page.findtext(".//title")]
    assert meta("og:site_name") == ["The Harbour Gazette"]
    assert meta("og:image")[0].startswith(f"{SITE_URL}media/images/")
    assert meta("twitter:card") == ["summary_large_image"]
    assert page.xpath("//link[@rel='canonical']/@href") == [url]
    banner = page.xpath("//body/*[1]")[0]
    assert banner.tag == "header"  # the site's masthead: a banner landmark
    assert banner.xpath(".//a[text()='Subscribe']/@href") == [f"{SITE_URL}#subscribe"]
    assert (web.config.archive_dir / "daily/1.html").read_bytes() == on_disk


def test_dressing_an_edition_puts_tags_in_the_head_and_the_banner_first_in_the_body() -> None:
    html = '<html><head><title>T</title></head>\n<BODY class="b">text</BODY></html>'
    dressed = dressed_edition(html, "<meta name=x>", "<div>banner</div>")
    assert dressed == (
        '<html><head><title>T</title><meta name=x></head>\n<BODY class="b"><div>banner</div>'
        "text</BODY></html>"
    )
    assert dressed_edition("plain text", "<meta>", "<div>") == "plain text"


@pytest.mark.parametrize(
    "page_path", ["/archive/daily/0.html", "/archive/daily/01.html", "/archive/Daily/1.html"]
)
def test_edition_that_is_not_archived_is_404(web: Web, page_path: str) -> None:
    assert web.client.get(page_path).status_code == 404


# Sitemap, robots.txt, favicon ---------------------------------------------------------------


def sitemap_urls(web: Web) -> dict[str, str | None]:
    response = web.client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = lxml.etree.fromstring(response.content)
    schema = lxml.etree.XMLSchema(lxml.etree.parse(str(SITEMAP_SCHEMA)))
    assert schema.validate(root), schema.error_log
    return {
        str(url.findtext(f"{SITEMAP}loc")): url.findtext(f"{SITEMAP}lastmod")
        for url in root.iter(f"{SITEMAP}url")
    }


def test_sitemap_validates_and_lists_every_page_with_its_last_change(web: Web) -> None:
    urls = sitemap_urls(web)
    with web.store.transaction() as connection:
        articles = public_articles(connection)
    expected = {SITE_URL, f"{SITE_URL}articles/", f"{SITE_URL}categories/", f"{SITE_URL}archive/"}
    expected |= {f"{SITE_URL}page/2/", f"{SITE_URL}articles/page/2/"}
    expected |= {p.article.url for p in articles}
    expected |= {f"{SITE_URL}categories/{c.slug}/" for p in articles for c in p.article.categories}
    expected |= {f"{SITE_URL}tags/{category_slug(t)}/" for p in articles for t in p.article.tags}
    expected |= {f"{SITE_URL}archive/daily/1.html"}
    authors = (web.config.content_dir / "authors").glob("*.md")
    expected |= {f"{SITE_URL}authors/{profile.stem}/" for profile in authors}
    assert set(urls) == expected
    assert all(lastmod for lastmod in urls.values())
    for published_article in articles:
        assert urls[published_article.article.url] == w3c_datetime(published_article.updated)


def test_every_page_in_the_sitemap_answers_200(web: Web) -> None:
    for url in sitemap_urls(web):
        assert web.client.get(path(url)).status_code == 200, url


def test_robots_txt_names_the_sitemap_and_keeps_crawlers_off_subscriber_pages(web: Web) -> None:
    response = web.client.get("/robots.txt")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    lines = response.text.splitlines()
    assert f"Sitemap: {SITE_URL}sitemap.xml" in lines
    assert "Disallow: /unsubscribe/" in lines
    assert "Disallow: /preferences/" in lines
    assert "Disallow: /" not in lines


def test_favicon_is_the_site_icon_as_an_ico_in_three_sizes(web: Web) -> None:
    response = web.client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/vnd.microsoft.icon"
    with Image.open(io.BytesIO(response.content)) as icon:
        assert icon.format == "ICO"
        assert icon.info["sizes"] == {(16, 16), (32, 32), (48, 48)}
    again = web.client.get("/favicon.ico", headers={"if-none-match": response.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize("problem", ["missing", "not an image", "a URL"])
def test_favicon_is_404_when_the_icon_cannot_be_served(
    site: Site, clock: MovableClock, tmp_path: Path, problem: str
) -> None:
    config = published(site, None, clock)
    icon = {
        "missing": SiteImage(f"{SITE_URL}media/none.png", tmp_path / "none.png"),
        "not an image": SiteImage(f"{SITE_URL}media/x.png", tmp_path / "x.png"),
        "a URL": SiteImage("https://cdn.example.org/icon.png", None),
    }[problem]
    (tmp_path / "x.png").write_bytes(b"\x89PNG this is no image")
    for web in running(dataclasses.replace(config, icon=icon), clock):
        assert web.client.get("/favicon.ico").status_code == 404


def test_icon_conversion_refuses_what_is_no_image() -> None:
    with pytest.raises(ValueError, match="not an image"):
        favicon_ico(b"GIF89a truncated")
    image = io.BytesIO()
    Image.new("RGB", (20, 10), "#0d4f6b").save(image, format="PNG")
    assert favicon_ico(image.getvalue())[:4] == b"\x00\x00\x01\x00"


# ETags and 304s -----------------------------------------------------------------------------

CACHEABLE = [p for p in EVERY_PAGE if p not in ("/", "/no/such/page")] + [
    "/sitemap.xml",
    "/robots.txt",
    "/archive/daily/1.html",
]


@pytest.mark.parametrize("page_path", CACHEABLE)
def test_page_requested_again_with_its_etag_gets_304_without_a_body(
    web: Web, page_path: str
) -> None:
    first = web.client.get(page_path)
    etag = first.headers["etag"]
    assert first.status_code == 200
    again = web.client.get(page_path, headers={"if-none-match": f'"other", {etag}'})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
    stale = web.client.get(page_path, headers={"if-none-match": '"stale"'})
    assert stale.status_code == 200


def test_page_etag_changes_when_what_it_shows_changes(web: Web, site: Site) -> None:
    before = {p: web.client.get(p).headers["etag"] for p in ("/articles/", "/sitemap.xml")}
    site.write_article(
        "news/fresh.md", "---\ntitle: Fresh news\ndate: 2026-11-25T11:00:00Z\n---\nNews.\n"
    )
    gather(web.store, web.config, web.clock)
    for page_path, etag in before.items():
        response = web.client.get(page_path, headers={"if-none-match": etag})
        assert response.status_code == 200
        assert response.headers["etag"] != etag


def test_home_page_revalidates_for_any_browser_until_its_stories_change(web: Web) -> None:
    etag = web.client.get("/").headers["etag"]
    web.clock.advance(days=2)
    web.client.cookies.clear()
    assert web.client.get("/", headers={"if-none-match": etag}).status_code == 304


# Nothing a reader types in a URL gets a 500 -------------------------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segment=st.text(st.characters(codec="utf-8", exclude_characters="/?#"), max_size=12))
def test_any_page_number_tag_or_edition_gets_no_500(web: Web, segment: str) -> None:
    for template in ("/page/{}/", "/articles/page/{}/", "/tags/{}/", "/archive/daily/{}.html"):
        response = web.client.get(template.format(quote(segment, safe="")), follow_redirects=False)
        assert response.status_code in (200, 301, 404, 400), (template, segment)


# On each store ------------------------------------------------------------------------------


@pytest.fixture
def web_on_each_store(site: Site, clock: MovableClock, store_url: str) -> Iterator[Web]:
    """The sample site served from SQLite and from PostgreSQL."""
    yield from running(published(site, store_url, clock), clock)


def test_older_pages_editions_and_sitemap_read_each_store(web_on_each_store: Web) -> None:
    web = web_on_each_store
    with web.store.transaction() as connection:
        everything = [p.article.url for p in public_articles(connection)]
    assert story_links(web, "/page/2/") == everything[PER_PAGE : 2 * PER_PAGE]
    edition = document(web.client.get("/archive/daily/1.html"))
    [image] = edition.xpath("//meta[@property='og:image']/@content")
    assert str(image).startswith(f"{SITE_URL}media/images/")
    assert set(everything) <= set(sitemap_urls(web))


def test_every_static_page_is_the_page_serve_answers_byte_for_byte(web: Web) -> None:
    # `publisher build` renders each page directly from one read; `serve` reads at each request.
    site = WebSite(web.config, web.store, b"k" * 32, web.clock, ENVIRON)
    with web.store.read() as connection:
        files = list(StaticPages(site, connection).files())
        rendered = {entry.path: entry.render() for entry in files if isinstance(entry, StaticPage)}
    paths = {entry.path for entry in files}
    kinds = {"/", "/page/2/", "/articles/", "/articles/page/2/", "/categories/", "/archive/"}
    assert kinds <= paths
    for prefix in ("/tags/", "/authors/", "/categories/", "/archive/daily/", "/feeds/", "/media/"):
        assert any(path.startswith(prefix) and path != prefix for path in paths), prefix
    for entry in files:
        served = web.client.get(quote(entry.path))
        expected = (
            rendered[entry.path] if isinstance(entry, StaticPage) else entry.source.read_bytes()
        )
        assert (served.status_code, served.content) == (200, expected), entry.path
    print(f"\n{len(files)} static files, each the bytes serve answers")
