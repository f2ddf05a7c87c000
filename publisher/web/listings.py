"""The pages that list articles: the home page's stories and its older pages, every article,
the categories, a tag's articles.

Page 1 of the home page is the home page itself (with the sign-up form, in `subscription`);
`page/1/` answers with a permanent redirect to it, the one redirect the app makes (to a fixed
path of its own), and a page past the last is 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from babel.support import Translations
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from publisher.content.articles import Article, Category, category_slug
from publisher.store.articles import count_articles, public_articles
from publisher.store.statuses import ArticleStatus
from publisher.urls import listing_page_url, tag_url
from publisher.web.conditional import answer_conditionally
from publisher.web.navigation import (
    NUMBER,
    PER_PAGE,
    SLUG,
    SiteUrls,
    page_count,
    page_number,
    path_of,
)
from publisher.web.site import PageError, WebSite

TAG_ARTICLES = 100


@dataclass(frozen=True, slots=True)
class Pagination:
    """Where a page of a listing stands: its number, how many there are, its neighbours."""

    number: int
    count: int
    newer_url: str
    older_url: str


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of articles, newest first."""

    articles: tuple[Article, ...]
    pagination: Pagination


@dataclass(frozen=True, slots=True)
class CategoryCount:
    """A category, its page and how many public articles it holds."""

    category: Category
    url: str
    count: int


def listing_page(
    connection: Connection, number: int, page_url: Callable[[int], str], per_page: int = PER_PAGE
) -> Listing | None:
    """Page `number` of all public articles (`page_url(n)` names page n), or None past the end."""
    count = page_count(count_articles(connection, ArticleStatus.PUBLIC), per_page)
    if not 1 <= number <= count:
        return None
    found = public_articles(connection, per_page, (number - 1) * per_page)
    pagination = Pagination(
        number=number,
        count=count,
        newer_url=page_url(number - 1) if number > 1 else "",
        older_url=page_url(number + 1) if number < count else "",
    )
    return Listing(tuple(published.article for published in found), pagination)


def indexed_listing_page(
    listed: Sequence[Article], number: int, page_url: Callable[[int], str], per_page: int = PER_PAGE
) -> Listing | None:
    """`listing_page` from every public article already read, newest first."""
    count = page_count(len(listed), per_page)
    if not 1 <= number <= count:
        return None
    pagination = Pagination(
        number=number,
        count=count,
        newer_url=page_url(number - 1) if number > 1 else "",
        older_url=page_url(number + 1) if number < count else "",
    )
    start = (number - 1) * per_page
    return Listing(tuple(listed[start : start + per_page]), pagination)


def category_counts(articles: list[Article], urls: SiteUrls) -> list[CategoryCount]:
    """Every category that holds a public article, with its count, by name."""
    counts: Counter[str] = Counter()
    names: dict[str, Category] = {}
    for article in articles:
        for category in article.categories:
            counts[category.slug] += 1
            names.setdefault(category.slug, category)
    ordered = sorted(names.values(), key=lambda category: (category.name.casefold(), category.slug))
    return [CategoryCount(c, urls.category(c.slug), counts[c.slug]) for c in ordered]


def tagged(articles: list[Article], slug: str) -> tuple[str, list[Article]]:
    """The tag whose slug is `slug` as first written, and the articles carrying it."""
    name = ""
    found = []
    for article in articles:
        for tag in article.tags:
            if category_slug(tag) == slug:
                name = name or tag
                found.append(article)
                break
    return name, found


def tag_urls(article: Article, urls: SiteUrls) -> dict[str, str]:
    """An article's tags and their pages ("" for a tag that has none)."""
    return {tag: urls.tag(tag) for tag in article.tags}


def stories_context(title: str, url: str, listing: Listing) -> dict[str, Any]:
    """What the `stories` template shows: a page of the home page's or the article list's."""
    return {
        "heading": title,
        "page_url": url,
        "articles": listing.articles,
        "pagination": listing.pagination,
    }


def home_page_title(words: Translations, number: int, count: int) -> str:
    """The heading of the home page's `number`th page."""
    return words.gettext("Page %(number)d of %(count)d") % {"number": number, "count": count}


def articles_page_title(words: Translations, number: int, count: int) -> str:
    """The heading of the article list's `number`th page (the first has its own)."""
    if number == 1:
        return words.gettext("All articles")
    return words.gettext("All articles, page %(number)d of %(count)d") % {
        "number": number,
        "count": count,
    }


def categories_context(articles: list[Article], urls: SiteUrls) -> dict[str, Any]:
    """What the `categories` template shows."""
    return {"categories": category_counts(articles, urls), "page_url": urls.categories}


def tag_context(urls: SiteUrls, name: str, found: Sequence[Article]) -> dict[str, Any]:
    """What the `tag` template shows: the tag as first written and its newest articles."""
    return {"tag": name, "page_url": urls.tag(name), "articles": tuple(found[:TAG_ARTICLES])}


class ListingPages:
    """The routes of the older home pages, the article list, the categories and tags."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self.urls = site.urls

    def routes(self) -> list[Route]:
        urls = self.urls
        home_pages = path_of(listing_page_url(urls.home, NUMBER))
        article_pages = path_of(listing_page_url(urls.articles, NUMBER))
        return [
            Route(home_pages, self.home_page, methods=["GET"]),
            Route(path_of(urls.articles), self.articles, methods=["GET"]),
            Route(article_pages, self.articles_page, methods=["GET"]),
            Route(path_of(urls.categories), self.categories, methods=["GET"]),
            Route(path_of(tag_url(urls.site, SLUG)), self.tag, methods=["GET"]),
        ]

    async def home_page(self, request: Request) -> Response:
        number = self._number(request)
        if number == 1:
            return RedirectResponse(path_of(self.urls.home), status_code=301)
        listing = await run_in_threadpool(self._page, number, self.urls.home_page)
        title = home_page_title(self.site.translations, number, listing.pagination.count)
        return self._stories(request, title, self.urls.home_page(number), listing)

    async def articles(self, request: Request) -> Response:
        listing = await run_in_threadpool(self._page, 1, self.urls.articles_page)
        title = articles_page_title(self.site.translations, 1, listing.pagination.count)
        return self._stories(request, title, self.urls.articles, listing)

    async def articles_page(self, request: Request) -> Response:
        number = self._number(request)
        if number == 1:
            return RedirectResponse(path_of(self.urls.articles), status_code=301)
        listing = await run_in_threadpool(self._page, number, self.urls.articles_page)
        title = articles_page_title(self.site.translations, number, listing.pagination.count)
        return self._stories(request, title, self.urls.articles_page(number), listing)

    async def categories(self, request: Request) -> Response:
        articles = await run_in_threadpool(self._all_articles)
        context = categories_context(articles, self.urls)
        return answer_conditionally(request, self.site.render(request, "categories", context))

    async def tag(self, request: Request) -> Response:
        slug = str(request.path_params["slug"])
        name, listed = tagged(await run_in_threadpool(self._all_articles), slug)
        found = tuple(listed)
        if not found:
            raise PageError(404)
        context = tag_context(self.urls, name, found)
        return answer_conditionally(request, self.site.render(request, "tag", context))

    def _stories(self, request: Request, title: str, url: str, listing: Listing) -> Response:
        context = stories_context(title, url, listing)
        return answer_conditionally(request, self.site.render(request, "stories", context))

    def _number(self, request: Request) -> int:
        number = page_number(str(request.path_params["number"]))
        if number is None:
            raise PageError(404)
        return number

    def _page(self, number: int, page_url: Callable[[int], str]) -> Listing:
        with self.site.store.read() as connection:
            listing = listing_page(connection, number, page_url)
        if listing is None:
            raise PageError(404)
        return listing

    def _all_articles(self) -> list[Article]:
        with self.site.store.read() as connection:
            return [published.article for published in public_articles(connection)]
