"""Public URLs, each spelled once: pages and feeds of categories and authors, tags, listings."""

from __future__ import annotations

import pytest
from starlette.routing import compile_path

from publisher.site.feeds import feed_specs
from publisher.urls import (
    author_folder,
    author_page_url,
    category_folder,
    category_url,
    feed_file_url,
    folder_url,
    listing_page_url,
    tag_url,
)
from publisher.web.navigation import NUMBER, SLUG, path_of, site_urls
from publisher.web.site import feed_links, route_paths
from tests.conftest import Site
from tests.test_feeds import one_article

SITES = ["https://gazette.example.org/", "https://example.org/gazette/"]


@pytest.mark.parametrize("site_url", SITES)
def test_pages_hang_off_the_site_url_in_their_own_folder(site_url: str) -> None:
    assert category_url(site_url, "news") == f"{site_url}categories/news/"
    assert tag_url(site_url, "tides") == f"{site_url}tags/tides/"
    assert author_page_url(site_url, "ann-lee") == f"{site_url}authors/ann-lee/"
    assert listing_page_url(f"{site_url}articles/", 2) == f"{site_url}articles/page/2/"


def test_the_empty_folder_is_the_base_itself() -> None:
    assert folder_url("https://example.org/feeds/", "") == "https://example.org/feeds/"


@pytest.mark.parametrize("site_url", SITES)
def test_each_page_route_matches_the_url_made_for_it(site_url: str) -> None:
    made_for_slug = {
        path_of(category_url(site_url, SLUG)): category_url(site_url, "news"),
        path_of(tag_url(site_url, SLUG)): tag_url(site_url, "tides"),
        path_of(author_page_url(site_url, SLUG)): author_page_url(site_url, "ann-lee"),
        path_of(listing_page_url(site_url, NUMBER)): listing_page_url(site_url, 7),
    }
    for route, url in made_for_slug.items():
        pattern, _, _ = compile_path(route)
        assert pattern.match(path_of(url)), (route, url)
        assert not pattern.match(path_of(url).removesuffix("/") + "/more/"), route


def test_a_category_page_and_its_feeds_share_the_category_folder(site: Site) -> None:
    config = site.config()
    published = one_article("Title")  # in the category with slug "c"
    spec = next(s for s in feed_specs(config, [published]) if s.folder == category_folder("c"))
    assert spec.home_url == site_urls(config).category("c") == category_url(config.site.url, "c")
    assert route_paths(config).category == path_of(category_url(config.site.url, SLUG))
    feeds_on_page = {link.url for link in feed_links(config, category_folder("c"))}
    assert spec.file_url("rss") in feeds_on_page
    assert spec.file_url("atom") in feeds_on_page
    pattern, _, _ = compile_path(route_paths(config).category)
    found = pattern.match(path_of(spec.home_url))
    assert found is not None
    assert found.groupdict() == {"slug": "c"}


def test_an_author_feed_folder_is_the_author_folder_below_the_feeds_url(site: Site) -> None:
    config = site.config()
    links = feed_links(config, author_folder("ann-lee"))
    assert {link.url for link in links} == {
        f"{config.feeds_url}authors/ann-lee/{name}" for name in ("rss.xml", "atom.xml", "feed.json")
    }


def test_a_feed_file_url_is_the_url_the_feed_names_itself_by(site: Site) -> None:
    config = site.config()
    specs = feed_specs(config, [one_article("Title")], last_sequence=10)  # two archive pages
    assert any(spec.page for spec in specs)
    for spec in specs:
        for feed_format in ("rss", "atom", "json"):
            relative = spec.file_path(feed_format)
            assert feed_file_url(config, relative) == spec.file_url(feed_format), relative
