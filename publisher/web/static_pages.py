"""Every public file of the static site, rendered directly: no request, no crawl.

The build knows every page there is (the home page and its older pages, the article list,
each article, author, category and tag, the archive and its editions, the sitemap, robots.txt,
the favicon and the stylesheet), so each is rendered by the same context functions and
templates the routes use, from one read of the public articles (`public_index`) and the
articles' bodies read in batches. Feeds and media are copied as the served app answers them.
The pages' bytes are the ones `publisher serve` answers (a test compares them all).

Each page carries the fingerprint of what it shows: the site-wide inputs, and the revision of
each article it lists (an article page: its own and its related articles'). A page whose
fingerprint is the one its file was written from is not rendered, nor its article's body read.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from sqlalchemy import Connection
from starlette.routing import compile_path

from publisher.content.articles import ARTICLE_SUFFIXES, Article, PublishedArticle
from publisher.content.authors import AuthorDirectory
from publisher.site.feeds import feed_media_type
from publisher.site.static import Manifest, StaticCopy, StaticPage, same_site_path
from publisher.store.articles import public_articles_with_guids, related_guids
from publisher.store.editions import EditionSummary, edition_summaries, edition_summary
from publisher.store.feeds import public_article_revisions
from publisher.store.profiles import profiles
from publisher.urls import archive_url, tag_url
from publisher.web.archive import archive_context, archived_copy, dressed_copy, edition_image
from publisher.web.articles import article_page_context, category_context
from publisher.web.authors import author_page_context
from publisher.web.crawlers import SiteSnapshot, robots_txt, site_sitemap
from publisher.web.files import MEDIA_KINDS
from publisher.web.icons import Favicon
from publisher.web.listings import (
    Listing,
    articles_page_title,
    categories_context,
    home_page_title,
    indexed_listing_page,
    stories_context,
    tag_context,
)
from publisher.web.navigation import PER_PAGE, page_count
from publisher.web.public_index import PublicIndex, read_public_index
from publisher.web.site import WebSite
from publisher.web.subscription import (
    HOME_EDITIONS,
    blank_form,
    home_context,
    home_editions,
)

BODY_BATCH = 200  # articles read with their bodies at a time: a few megabytes held at once

StaticEntry = StaticPage | StaticCopy


@dataclass(frozen=True, slots=True)
class SiteData:
    """What every page of the static site is made from, read in one read transaction."""

    index: PublicIndex
    editions: tuple[EditionSummary, ...]
    directory: AuthorDirectory
    related: dict[str, tuple[str, ...]]
    revisions: dict[str, tuple[object, ...]]  # each public article's, by GUID


def read_site_data(site: WebSite, connection: Connection) -> SiteData:
    """The public articles, editions, profiles and related choices, each read once."""
    return SiteData(
        index=read_public_index(connection),
        editions=tuple(edition_summaries(connection)),
        directory=AuthorDirectory(profiles(connection), site.config.site.url),
        related=related_guids(connection),
        revisions=public_article_revisions(connection),
    )


def fingerprint(parts: object) -> str:
    """The fingerprint of a page's inputs, given as a value whose repr names them all."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class StaticPages:
    """The files of the static site, each kind of page from its own method.

    `shared`: the fingerprint of what every page may show besides articles and editions;
    `previous`: what the output folder holds, so that unchanged articles' bodies go unread.
    """

    def __init__(
        self,
        site: WebSite,
        connection: Connection,
        shared: str = "",
        previous: Manifest | None = None,
    ) -> None:
        self.site = site
        # The templates do not change while the pages are made: no stat of each per page.
        site.templates.env.auto_reload = False
        self.connection = connection  # a read transaction, held while the pages are made
        self.data = read_site_data(site, connection)
        self.shared = shared
        self.previous = previous or Manifest(None, {})
        self.shares = (0, 1)  # this process's share of the files, and how many shares
        self.unread: list[str] = []  # the GUIDs of the article pages to render, in order
        self.bodies: dict[str, PublishedArticle] = {}  # the batch of bodies being rendered
        self.by_guid = {published.guid: published for published in self.data.index.published}
        self.revision_of = {
            id(published.article): (published.guid, self.data.revisions.get(published.guid))
            for published in self.data.index.published
        }

    def shown(self, articles: Iterable[Article]) -> list[object]:
        """The revisions of the articles a page lists (they are the index's own objects)."""
        return [self.revision_of.get(id(article)) for article in articles]

    def files(self) -> Iterator[StaticEntry]:
        """Every file of the static site (of this process's share, see `share`)."""
        for entry in self.all_files():
            if self.is_mine(entry.path):
                yield entry

    def all_files(self) -> Iterator[StaticEntry]:
        yield from self.listings()
        yield from self.categories()
        yield from self.tags()
        yield from self.authors()
        yield from self.articles()
        yield from self.archive()
        yield from self.crawler_files()
        yield from self.copies()

    def share(self, connection: Connection, number: int, shares: int) -> None:
        """Make only share `number` of `shares` of the files, reading through `connection`
        (a forked worker's own): the files are shared out by a checksum of their path."""
        self.connection, self.shares = connection, (number, shares)

    def is_mine(self, path: str) -> bool:
        number, shares = self.shares
        return shares == 1 or zlib.crc32(path.encode()) % shares == number

    def page(
        self, url: str, name: str, inputs: object, context: Callable[[], dict[str, object]]
    ) -> Iterator[StaticPage]:
        """The page `name` at `url` (nothing when the URL is not under the site's), shown from
        `inputs` and rendered, if need be, with `context()`."""
        path = same_site_path(self.site.config.site.url, url)
        if path is not None and self.is_mine(path):
            page_bytes = self.site.page_bytes
            yield StaticPage(
                path,
                fingerprint([self.shared, name, inputs]),
                lambda: page_bytes(path, name, context()),
            )

    def listings(self) -> Iterator[StaticPage]:
        """The home page and its older pages, the article list and its pages."""
        site, urls, listed = self.site, self.site.urls, self.data.index.articles
        summaries = self.data.editions[:HOME_EDITIONS]
        count = page_count(len(listed), PER_PAGE)
        words = site.translations
        for number in range(1, count + 1):
            home = indexed_listing_page(listed, number, urls.home_page)
            assert home is not None
            inputs = [number, count, self.shown(home.articles)]
            if number == 1:
                yield from self.page(
                    urls.home,
                    "home",
                    [inputs, summaries],
                    partial(self.home_context, home, summaries),
                )
            else:
                title = home_page_title(words, number, count)
                url = urls.home_page(number)
                yield from self.page(
                    url,
                    "stories",
                    inputs,
                    partial(stories_context, title, url, home),
                )
            listing = indexed_listing_page(listed, number, urls.articles_page)
            assert listing is not None
            title, url = articles_page_title(words, number, count), urls.articles_page(number)
            yield from self.page(
                url,
                "stories",
                inputs,
                partial(stories_context, title, url, listing),
            )
        manage = f"{site.config.web_base_url}manage/"
        yield from self.page(manage, "manage", (), lambda: {"email": "", "problem": False})

    def home_context(self, listing: Listing, summaries: Sequence[EditionSummary]) -> dict[str, Any]:
        """What the home page shows: the form, the newest editions and the first stories."""
        config = self.site.config
        editions = home_editions(config, summaries)
        return home_context(self.site, editions, listing, blank_form(config), {})

    def categories(self) -> Iterator[StaticPage]:
        """The categories' index and each category's page."""
        urls, listed = self.site.urls, self.data.index.articles
        counted = categories_context(list(listed), urls)
        yield from self.page(urls.categories, "categories", counted, lambda: counted)
        members: dict[str, list[Article]] = {}
        for article in listed:
            for category in article.categories:
                members.setdefault(category.slug, []).append(article)
        for slug, found in members.items():
            context = category_context(self.site, slug, found)
            inputs = [slug, self.shown(context["articles"])]
            yield from self.page(urls.category(slug), "category", inputs, partial(dict, context))

    def tags(self) -> Iterator[StaticPage]:
        """Each tag's page."""
        urls = self.site.urls
        for slug, (name, found) in self.data.index.tags.items():
            context = tag_context(urls, name, found)
            inputs = [name, self.shown(context["articles"])]
            yield from self.page(tag_url(urls.site, slug), "tag", inputs, partial(dict, context))

    def authors(self) -> Iterator[StaticPage]:
        """Each author's page: every profile, and every author of a public article."""
        config = self.site.config
        for group in self.data.directory.groups(self.data.index.published):
            inputs = [group.byline, self.shown(p.article for p in group.entries)]
            yield from self.page(
                group.byline.page_url,
                "author",
                inputs,
                partial(author_page_context, config, group),
            )

    def articles(self) -> Iterator[StaticPage]:
        """Each article page served here; the bodies of those to render are read in batches,
        when the first of a batch is rendered."""
        route = compile_path(self.site.paths.article)[0]
        site_url = self.site.config.site.url
        found = []
        for url, guid in self.data.index.guids_by_url.items():
            path = same_site_path(site_url, url)
            if path is None or not route.match(path) or guid not in self.by_guid:
                continue
            if not self.is_mine(path):
                continue
            inputs = self.article_inputs(guid)
            found.append((url, guid, inputs))
            if not self.previous.is_current(path, fingerprint([self.shared, "article", inputs])):
                self.unread.append(guid)
        for url, guid, inputs in found:
            yield from self.page(url, "article", inputs, partial(self.article_page_context, guid))

    def article_inputs(self, guid: str) -> list[object]:
        """What an article page shows: its revision, its related articles' revisions."""
        related = [published.article for published in self.related(guid)]
        return [guid, self.data.revisions.get(guid), self.shown(related)]

    def article_page_context(self, guid: str) -> dict[str, object]:
        """The context of the page of `guid`, its body read with the next ones to render."""
        published = self.bodies.pop(guid, None)
        if published is None:
            start = self.unread.index(guid) if guid in self.unread else None
            batch = [guid] if start is None else self.unread[start : start + BODY_BATCH]
            self.bodies = public_articles_with_guids(self.connection, batch)
            published = self.bodies.pop(guid)
        return self.article_context(published)

    def article_context(self, published: PublishedArticle) -> dict[str, object]:
        related = self.related(published.guid)
        return article_page_context(self.site, published, self.data.directory, related)

    def related(self, guid: str) -> list[PublishedArticle]:
        """The public articles chosen as related to `guid`, in their order."""
        chosen: Sequence[str] = self.data.related.get(guid, ())
        return [self.by_guid[item] for item in chosen if item in self.by_guid]

    def archive(self) -> Iterator[StaticPage]:
        """The archive's index and the web copy of each edition archived on disk."""
        site, config = self.site, self.site.config
        summaries = list(self.data.editions)
        yield from self.page(
            config.archive_url, "archive", summaries, lambda: archive_context(config, summaries)
        )
        articles = {p.guid: p.article for p in self.data.index.published}
        for summary in summaries:
            copy = archived_copy(config, summary.digest, summary.number)
            if copy is None:
                continue
            path = same_site_path(config.site.url, archive_url(config, copy.digest, copy.number))
            if path is None:
                continue
            # The whole summary (with its articles, for the image): one read per edition.
            described = edition_summary(self.connection, copy.digest, copy.number)
            image = edition_image(described, articles)
            html = dressed_copy(site, copy, described, image).encode("utf-8")
            yield StaticPage(path, self.bytes_inputs(html), partial(bytes, html))

    def bytes_inputs(self, body: bytes) -> str:
        """The fingerprint of a file made whole before it is compared: its bytes'."""
        return fingerprint(["bytes", hashlib.sha256(body).hexdigest()])

    def crawler_files(self) -> Iterator[StaticPage]:
        """robots.txt, sitemap.xml, the favicon and the pages' stylesheet."""
        site, config, urls = self.site, self.site.config, self.site.urls
        robots = robots_txt(urls, site.paths.home).encode("utf-8")
        yield StaticPage("/robots.txt", self.bytes_inputs(robots), lambda: robots)
        snapshot = SiteSnapshot(
            config,
            urls,
            self.data.index.published,
            self.data.editions,
            tuple(self.data.directory.profiles),
        )
        sitemap_path = same_site_path(config.site.url, urls.sitemap)
        if sitemap_path is not None:
            inputs = [self.shared, sorted(self.data.revisions.items()), self.data.editions]
            yield StaticPage(sitemap_path, fingerprint(inputs), lambda: site_sitemap(snapshot))
        icon = Favicon(site).ico()
        if icon is not None:
            yield StaticPage("/favicon.ico", self.bytes_inputs(icon), lambda: icon)
        stylesheet = site.stylesheet()
        yield StaticPage(site.paths.stylesheet, self.bytes_inputs(stylesheet), lambda: stylesheet)

    def copies(self) -> Iterator[StaticCopy]:
        """The feed files and the content folder's media, as the served app answers them."""
        config = self.site.config
        for relative, source in visible_files(config.feeds_dir):
            if feed_media_type(relative) is not None:
                yield from self.copy(urljoin(config.feeds_url, quote(relative)), source)
        for relative, source in visible_files(config.content_dir, skip=ARTICLE_SUFFIXES):
            media_type, _ = mimetypes.guess_type(source.name)
            if media_type is not None and media_type.startswith(MEDIA_KINDS):
                yield from self.copy(urljoin(config.media_url, quote(relative)), source)

    def copy(self, url: str, source: Path) -> Iterator[StaticCopy]:
        path = same_site_path(self.site.config.site.url, url)
        if path is not None:
            yield StaticCopy(path, source)


def visible_files(folder: Path, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, Path]]:
    """Each regular file below `folder` with no hidden part on its way, by its relative path
    (symbolic links are left out: the served app judges each by where it leads), but those
    whose name ends with one of `skip` (any case), left out before they are looked at."""
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or name.lower().endswith(skip):
                continue
            path = Path(root, name)
            if path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(folder).as_posix(), path
