"""Where the site's own pages live: the URLs the navigation, listings and sitemap link to.

Listings hang off the site URL (`articles/`, `categories/`, `tags/<slug>/`), the home page and
its older pages (`page/<n>/`) off `[web] base_url`, editions off `[archive] url`. These routes
are matched before article URLs, and page numbers are digits, so no `[site] article_url`
pattern can take them: with the default `/articles/{slug}/`, an article called "page" is
still at `/articles/page/`, and `/articles/page/2/` is the listing's second page.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from publisher.config import Config
from publisher.content.articles import category_slug
from publisher.urls import (
    ARTICLES,
    CATEGORIES,
    TAGS,
    category_url,
    folder_url,
    listing_page_url,
    tag_url,
)

PER_PAGE = 10
MAX_PAGE_DIGITS = 6
# Route parameters: what stands for the slug or the page number in a URL to make its route.
SLUG = "{slug}"
NUMBER = "{number}"


@dataclass(frozen=True, slots=True)
class SiteUrls:
    """The absolute URLs of the site's own pages (`site`: the site URL they hang off)."""

    site: str
    home: str
    subscribe: str
    articles: str
    categories: str
    tags: str
    archive: str
    sitemap: str
    favicon: str

    def home_page(self, number: int) -> str:
        """The home page's `number`th page (the first is the home page itself)."""
        return self.home if number == 1 else listing_page_url(self.home, number)

    def articles_page(self, number: int) -> str:
        """The article list's `number`th page."""
        return self.articles if number == 1 else listing_page_url(self.articles, number)

    def category(self, slug: str) -> str:
        """A category's page, by the category's slug."""
        return category_url(self.site, slug)

    def tag(self, name: str) -> str:
        """A tag's page, or "" for a tag with nothing to make a slug of."""
        slug = category_slug(name)
        return tag_url(self.site, slug) if slug else ""


def site_urls(config: Config) -> SiteUrls:
    """The URLs of the site's pages, from the config."""
    home = config.web_base_url if config.web_base_url.endswith("/") else config.web_base_url + "/"
    site = config.site.url
    return SiteUrls(
        site=site,
        home=home,
        subscribe=f"{home}#subscribe",
        articles=folder_url(site, ARTICLES),
        categories=folder_url(site, CATEGORIES),
        tags=folder_url(site, TAGS),
        archive=config.archive_url,
        sitemap=urljoin(site, "sitemap.xml"),
        favicon=urljoin(site, "/favicon.ico"),
    )


def path_of(url: str) -> str:
    """The path part of one of the site's URLs, as a route matches it."""
    return urlsplit(url).path or "/"


def page_number(text: str) -> int | None:
    """A page number as written in a URL (`2`, never `02`, `+2` or `²`), or None."""
    if not (0 < len(text) <= MAX_PAGE_DIGITS) or not text.isascii() or not text.isdigit():
        return None
    if text.startswith("0"):
        return None
    return int(text)


def page_count(total: int, per_page: int = PER_PAGE) -> int:
    """How many pages `total` items fill (at least one, so an empty site has a home page)."""
    return max(1, -(-total // per_page))
