"""What search engines read: `sitemap.xml` (every page, with its last change) and `robots.txt`.

The sitemap is made from one snapshot of the store by the functions in `SITEMAP_SOURCES`, each
listing one kind of page; a new kind of page is one more function there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.config import Config
from publisher.content.articles import PublishedArticle, category_slug
from publisher.content.authors import AuthorDirectory, AuthorProfile
from publisher.mail.editions import archive_path
from publisher.site.sitemap import SitemapEntry, newest, sitemap_xml
from publisher.store.articles import public_articles
from publisher.store.editions import EditionSummary, edition_summaries
from publisher.store.profiles import profiles
from publisher.urls import archive_url
from publisher.web.conditional import answer_conditionally
from publisher.web.navigation import PER_PAGE, SiteUrls, page_count, path_of
from publisher.web.site import WebSite


@dataclass(frozen=True, slots=True)
class SiteSnapshot:
    """What the sitemap is made from: public articles (newest first), stored editions and
    author profiles."""

    config: Config
    urls: SiteUrls
    articles: tuple[PublishedArticle, ...]
    editions: tuple[EditionSummary, ...]
    profiles: tuple[AuthorProfile, ...] = ()


def served_here(config: Config, published: PublishedArticle) -> bool:
    """Whether the article's page is this site's (not an upstream item or an own `url`)."""
    article = published.article
    return article.origin is None and article.url.startswith(config.site.url)


def listing_entries(snapshot: SiteSnapshot) -> Iterator[SitemapEntry]:
    """The home page and its older pages, the article list, the categories and the archive."""
    urls, articles = snapshot.urls, snapshot.articles
    pages = page_count(len(articles))
    for page_url in (urls.home_page, urls.articles_page):
        for number in range(1, pages + 1):
            shown = articles[(number - 1) * PER_PAGE : number * PER_PAGE]
            yield SitemapEntry(page_url(number), newest(p.updated for p in shown))
    yield SitemapEntry(urls.categories, newest(p.updated for p in articles))
    yield SitemapEntry(urls.archive, newest(e.created_at for e in snapshot.editions))


def article_entries(snapshot: SiteSnapshot) -> Iterator[SitemapEntry]:
    """Every article page served here."""
    for published in snapshot.articles:
        if served_here(snapshot.config, published):
            yield SitemapEntry(published.article.url, published.updated)


def category_entries(snapshot: SiteSnapshot) -> Iterator[SitemapEntry]:
    """Every category page, changed when its newest change was."""
    changed: dict[str, list[PublishedArticle]] = {}
    for published in snapshot.articles:
        for category in published.article.categories:
            changed.setdefault(category.slug, []).append(published)
    for slug, members in changed.items():
        yield SitemapEntry(snapshot.urls.category(slug), newest(p.updated for p in members))


def tag_entries(snapshot: SiteSnapshot) -> Iterator[SitemapEntry]:
    """Every tag page, changed when its newest change was."""
    changed: dict[str, list[PublishedArticle]] = {}
    names: dict[str, str] = {}
    for published in snapshot.articles:
        listed_under: set[str] = set()  # each article once per tag page, by slug
        for tag in published.article.tags:
            slug = category_slug(tag)
            if slug and slug not in listed_under:
                listed_under.add(slug)
                changed.setdefault(slug, []).append(published)
                names.setdefault(slug, tag)
    for slug, members in changed.items():
        yield SitemapEntry(snapshot.urls.tag(names[slug]), newest(p.updated for p in members))


def author_entries(snapshot: SiteSnapshot) -> Iterator[SitemapEntry]:
    """Every author page, changed when the author's newest article was."""
    directory = AuthorDirectory(snapshot.profiles, snapshot.config.site.url)
    for group in directory.groups(snapshot.articles):
        yield SitemapEntry(group.byline.page_url, newest(p.updated for p in group.entries))


def edition_entries(snapshot: SiteSnapshot) -> Iterator[SitemapEntry]:
    """Every edition whose archive copy is on disk."""
    config = snapshot.config
    for edition in snapshot.editions:
        if archive_path(config, edition.digest, edition.number).is_file():
            yield SitemapEntry(
                archive_url(config, edition.digest, edition.number), edition.created_at
            )


SitemapSource = Callable[[SiteSnapshot], Iterable[SitemapEntry]]
# Every kind of page the sitemap lists, in the order it lists them.
SITEMAP_SOURCES: tuple[SitemapSource, ...] = (
    listing_entries,
    article_entries,
    category_entries,
    tag_entries,
    author_entries,
    edition_entries,
)


def site_sitemap(
    snapshot: SiteSnapshot, sources: Iterable[SitemapSource] = SITEMAP_SOURCES
) -> bytes:
    """The sitemap of every page the sources list."""
    return sitemap_xml(entry for source in sources for entry in source(snapshot))


def robots_txt(urls: SiteUrls, home_path: str) -> str:
    """Crawl everything but the subscribers' own pages, and read the sitemap."""
    private = ("confirm/", "unsubscribe/", "preferences/", "address/", "forget/")
    lines = ["User-agent: *", *(f"Disallow: {home_path}{path}" for path in private)]
    return "\n".join([*lines, "", f"Sitemap: {urls.sitemap}", ""])


class CrawlerFiles:
    """The routes of `sitemap.xml` and `robots.txt`."""

    def __init__(self, site: WebSite) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        return [
            Route(path_of(self.site.urls.sitemap), self.sitemap, methods=["GET"]),
            Route("/robots.txt", self.robots, methods=["GET"]),
        ]

    async def sitemap(self, request: Request) -> Response:
        data = await run_in_threadpool(self._sitemap)
        response = Response(data, media_type="application/xml")
        return answer_conditionally(request, response)

    async def robots(self, request: Request) -> Response:
        text = robots_txt(self.site.urls, self.site.paths.home)
        response = Response(text, media_type="text/plain; charset=utf-8")
        return answer_conditionally(request, response)

    def _sitemap(self) -> bytes:
        with self.site.store.read() as connection:
            articles = tuple(public_articles(connection))
            editions = tuple(edition_summaries(connection))
            authors = tuple(profiles(connection))
        snapshot = SiteSnapshot(self.site.config, self.site.urls, articles, editions, authors)
        return site_sitemap(snapshot)
