"""Author pages (`authors/<slug>/` under the site URL), and what an article page shows of its
authors and related articles: bylines, bio boxes, the "Related" list and its JSON-LD."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.config import Config
from publisher.content.articles import PublishedArticle
from publisher.content.authors import AuthorDirectory, AuthorGroup
from publisher.content.structured_data import news_article, script_json
from publisher.store.articles import public_articles
from publisher.store.profiles import profiles
from publisher.urls import author_folder, author_page_url
from publisher.web.conditional import PAGE_CACHING
from publisher.web.navigation import SLUG, path_of
from publisher.web.site import PageError, WebSite, feed_links

AUTHOR_ARTICLES = 100


class AuthorPages:
    """The route of author pages."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self.path = path_of(author_page_url(site.config.site.url, SLUG))

    def routes(self) -> list[Route]:
        return [Route(self.path, self.author, methods=["GET"])]

    async def author(self, request: Request) -> Response:
        slug = str(request.path_params["slug"])
        group = await run_in_threadpool(self._group, slug)
        if group is None:
            raise PageError(404)
        context = author_page_context(self.site.config, group)
        return self.site.render(request, "author", context, headers={"cache-control": PAGE_CACHING})

    def _group(self, slug: str) -> AuthorGroup | None:
        with self.site.store.read() as connection:
            directory = AuthorDirectory(profiles(connection), self.site.config.site.url)
            return directory.group(slug, public_articles(connection))


def author_page_context(config: Config, group: AuthorGroup) -> dict[str, Any]:
    """What the `author` template shows: the byline, profile and newest articles."""
    byline = group.byline
    return {
        "author": byline,
        "profile": byline.profile,
        "articles": [published.article for published in group.entries[:AUTHOR_ARTICLES]],
        "author_feeds": feed_links(config, author_folder(byline.slug)),
    }


def article_context(
    config: Config,
    published: PublishedArticle,
    directory: AuthorDirectory,
    related: list[PublishedArticle],
) -> dict[str, Any]:
    """What the article page shows beyond the article: bylines, related articles, JSON-LD."""
    bylines = directory.bylines(published.article.authors)
    data = news_article(
        published.article,
        published.updated,
        bylines,
        publisher_name=config.site.title,
        publisher_url=config.site.url,
        logo_url=config.logo.url if config.logo else None,
    )
    return {
        "bylines": bylines,
        "related": [item.article for item in related],
        "json_ld": script_json(data),
    }
