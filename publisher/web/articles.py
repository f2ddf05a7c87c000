"""Article and category pages, so the links in feeds and digests lead somewhere.

An article's page is served at its permanent URL's path, only while the article is public and
that URL is the one the site made for it: an article with its own `url` lives elsewhere, and
no page is served for it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.content.articles import Article, PublishedArticle
from publisher.content.authors import AuthorDirectory
from publisher.store.articles import (
    public_article_at,
    public_articles_in_category,
    related_public_articles,
)
from publisher.store.profiles import profiles
from publisher.urls import category_folder
from publisher.web.authors import article_context
from publisher.web.conditional import answer_conditionally
from publisher.web.listings import tag_urls
from publisher.web.site import PageError, WebSite, feed_links

CATEGORY_ARTICLES = 100


def article_page_context(
    site: WebSite,
    published: PublishedArticle,
    directory: AuthorDirectory,
    related: list[PublishedArticle],
) -> dict[str, Any]:
    """What the `article` template shows: the article, its links, bylines and related ones."""
    article = published.article
    urls = site.urls
    category_urls = {category.slug: urls.category(category.slug) for category in article.categories}
    context: dict[str, Any] = {
        "article": article,
        "updated": published.updated,
        "category_urls": category_urls,
        "tag_urls": tag_urls(article, urls),
    }
    return context | article_context(site.config, published, directory, related)


def category_context(site: WebSite, slug: str, members: Sequence[Article]) -> dict[str, Any]:
    """What the `category` template shows: its newest articles (`members`, at least one)."""
    name = next(c.name for c in members[0].categories if c.slug == slug)
    return {
        "category": name,
        "page_url": site.urls.category(slug),
        "articles": list(members[:CATEGORY_ARTICLES]),
        "category_feeds": feed_links(site.config, category_folder(slug)),
    }


class ArticlePages:
    """The routes of article and category pages."""

    def __init__(self, site: WebSite) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        paths = self.site.paths
        return [
            Route(paths.category, self.category, methods=["GET"]),
            Route(paths.article, self.article, methods=["GET"]),
        ]

    async def article(self, request: Request) -> Response:
        url = urljoin(self.site.config.site.url, request.url.path)
        published = await run_in_threadpool(self._article_at, url)
        if published is None:
            raise PageError(404)
        directory, related = await run_in_threadpool(self._around, published.guid)
        context = article_page_context(self.site, published, directory, related)
        return answer_conditionally(request, self.site.render(request, "article", context))

    async def category(self, request: Request) -> Response:
        slug = str(request.path_params["slug"])
        members = await run_in_threadpool(self._in_category, slug)
        if not members:
            raise PageError(404)
        context = category_context(self.site, slug, [published.article for published in members])
        return answer_conditionally(request, self.site.render(request, "category", context))

    def _around(self, guid: str) -> tuple[AuthorDirectory, list[PublishedArticle]]:
        with self.site.store.read() as connection:
            directory = AuthorDirectory(profiles(connection), self.site.config.site.url)
            return directory, related_public_articles(connection, guid)

    def _article_at(self, url: str) -> PublishedArticle | None:
        with self.site.store.read() as connection:
            return public_article_at(connection, url)

    def _in_category(self, slug: str) -> list[PublishedArticle]:
        with self.site.store.read() as connection:
            return public_articles_in_category(connection, slug, CATEGORY_ARTICLES)
