"""Where things live on the site: the one place each public URL is spelled.

Category, tag and author pages hang off the site URL, each in a folder of its own
(`categories/<slug>/`, `tags/<slug>/`, `authors/<slug>/`); a category's and an author's feeds
hang off the feeds URL in a folder of the same name, so each folder is spelled once, here.
"""

from __future__ import annotations

import functools
from typing import Protocol
from urllib.parse import urljoin, urlsplit


class SiteUrls(Protocol):
    """The site's base URLs, as the config holds them (config checks its URLs with this
    module, so this module names only what it reads)."""

    @property
    def archive_url(self) -> str: ...

    @property
    def feeds_url(self) -> str: ...


def is_absolute_http_url(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL with a host: `https://example.org/x`."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unbalanced IPv6 bracket, a bad port
        return False


ARTICLES = "articles"
CATEGORIES = "categories"
TAGS = "tags"
AUTHORS = "authors"
PAGES = "page"


def archive_url(config: SiteUrls, digest: str, number: int) -> str:
    """Where an edition's archive copy is served: the "view in browser" link."""
    return urljoin(config.archive_url, f"{digest}/{number}.html")


def feed_file_url(config: SiteUrls, relative: str) -> str:
    """A feed file's URL, by its path in the feeds folder: its WebSub topic and `self` link."""
    return urljoin(config.feeds_url, relative)


@functools.lru_cache(maxsize=65536)  # a pure function, asked again for every link to a page
def folder_url(base_url: str, folder: str) -> str:
    """The URL of `folder` (relative, without a trailing slash) below `base_url`, with its
    trailing slash; `base_url` itself for the empty folder."""
    return urljoin(base_url, f"{folder}/") if folder else base_url


def listing_page_url(listing_url: str, number: int | str) -> str:
    """Page `number` of a listing (the home page, the article list), past its first page."""
    return folder_url(listing_url, f"{PAGES}/{number}")


def category_folder(slug: str) -> str:
    """A category's folder: its page's below the site URL, its feeds' below the feeds URL."""
    return f"{CATEGORIES}/{slug}"


def author_folder(slug: str) -> str:
    """An author's folder: their page's below the site URL, their feeds' below the feeds URL."""
    return f"{AUTHORS}/{slug}"


def category_url(site_url: str, slug: str) -> str:
    """A category's page."""
    return folder_url(site_url, category_folder(slug))


def tag_url(site_url: str, slug: str) -> str:
    """A tag's page, by the tag's slug."""
    return folder_url(site_url, f"{TAGS}/{slug}")


def author_page_url(site_url: str, slug: str) -> str:
    """An author's page on this site (not the author's own `url`)."""
    return folder_url(site_url, author_folder(slug))
