"""Build RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents from public articles: a pure function."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urljoin

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from publisher import __version__
from publisher.authors import AuthorDirectory
from publisher.config import Config, FeedFormat
from publisher.content import Article, Author, PublishedArticle
from publisher.markup import strip_forbidden_characters as clean

FILE_NAMES: dict[FeedFormat, str] = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}
MEDIA_TYPES: dict[FeedFormat, str] = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
# An empty feed still needs an update time; the epoch keeps it deterministic.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR = "publisher"
UNTITLED = "Untitled"


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed (site-wide or a category's) in every format."""

    folder: str  # relative to the feeds folder: "" or "categories/<slug>"
    title: str
    home_url: str
    feed_url: str  # the folder's URL; file names are appended
    description: str
    language: str
    author: Author
    entries: tuple[PublishedArticle, ...]

    def file_url(self, feed_format: FeedFormat) -> str:
        return urljoin(self.feed_url, FILE_NAMES[feed_format])

    def updated(self) -> datetime:
        return max((entry.updated for entry in self.entries), default=EMPTY_FEED_UPDATED)


def feed_specs(
    config: Config, articles: Sequence[PublishedArticle], authors: AuthorDirectory | None = None
) -> list[FeedSpec]:
    """The site feed, one per category and one per author, each of the newest `max_items`."""
    site, limit = config.site, config.feeds.max_items
    newest_first = sorted(articles, key=lambda a: (-a.article.date.timestamp(), a.guid))
    description = site.description or site.title
    specs = [
        FeedSpec(
            folder="",
            title=site.title,
            home_url=site.url,
            feed_url=config.feeds_url,
            description=description,
            language=site.language,
            author=Author(site.author.name, site.author.email, site.author.url),
            entries=tuple(newest_first[:limit]),
        )
    ]
    names = {c.slug: c.name for a in newest_first for c in reversed(a.article.categories)}
    for slug in sorted(names):
        members = [a for a in newest_first if slug in {c.slug for c in a.article.categories}]
        specs.append(
            FeedSpec(
                folder=f"categories/{slug}",
                title=f"{site.title}: {names[slug]}",
                home_url=urljoin(site.url, f"categories/{slug}/"),
                feed_url=urljoin(config.feeds_url, f"categories/{slug}/"),
                description=f"{names[slug]} from {site.title}",
                language=site.language,
                author=specs[0].author,
                entries=tuple(members[:limit]),
            )
        )
    for group in authors.groups(newest_first) if authors is not None else ():
        byline = group.byline
        specs.append(
            FeedSpec(
                folder=f"authors/{byline.slug}",
                title=f"{site.title}: {byline.name}",
                home_url=byline.page_url,
                feed_url=urljoin(config.feeds_url, f"authors/{byline.slug}/"),
                description=f"Articles by {byline.name} from {site.title}",
                language=site.language,
                author=Author(byline.name, None, byline.page_url),
                entries=group.entries[:limit],
            )
        )
    return specs


def render_feeds(specs: Sequence[FeedSpec], formats: Sequence[FeedFormat]) -> dict[str, bytes]:
    """Every feed file's bytes, keyed by its path relative to the feeds folder."""
    renderers: dict[FeedFormat, Callable[[FeedSpec], bytes]] = {
        "rss": render_rss,
        "atom": render_atom,
        "json": render_json_feed,
    }
    files = {}
    for spec in specs:
        for feed_format in formats:
            path = f"{spec.folder}/{FILE_NAMES[feed_format]}".lstrip("/")
            files[path] = renderers[feed_format](spec)
    return files


def render_rss(spec: FeedSpec) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator, enclosures and an atom:link to itself."""
    generator = _generator(spec)
    # Loaded on the feed, so the namespaces are declared once on the root element.
    generator.load_extension("dc")
    generator.load_extension("media")
    generator.description(clean(spec.description))
    # feedgen writes the *last* link added as the RSS <link>, so the self link goes first.
    generator.link(href=spec.file_url("rss"), rel="self", type=MEDIA_TYPES["rss"])
    generator.link(href=spec.home_url, rel="alternate")
    for published in spec.entries:
        entry = _entry(generator, published)
        article = published.article
        entry.link(href=article.url)
        if article.image:
            entry.enclosure(
                url=article.image.url,
                length=str(article.image.length or 0),
                type=article.image.media_type or "application/octet-stream",
            )
        for author in article.authors or (spec.author,):
            entry.dc.dc_creator(clean(author.name))
        entry.content(clean(feed_html(article)))
        # RSS descriptions are read as HTML, so the plain-text summary is escaped for it.
        summary = escape(clean(article.summary or article.title), quote=False)
        entry.description(summary, isSummary=True)
        if article.image:
            entry.media.content(
                url=article.image.url,
                type=article.image.media_type,
                medium="image",
                fileSize=str(article.image.length) if article.image.length else None,
                group=None,
            )
    return bytes(generator.rss_str(pretty=True))


def render_atom(spec: FeedSpec) -> bytes:
    """Atom 1.0 with full HTML content, a plain-text summary and an author on every entry."""
    generator = _generator(spec)
    generator.id(spec.file_url("atom"))
    if spec.description:
        generator.subtitle(clean(spec.description))
    generator.author(_person(spec.author))
    generator.link(href=spec.home_url, rel="alternate", type="text/html")
    generator.link(href=spec.file_url("atom"), rel="self", type=MEDIA_TYPES["atom"])
    generator.register_extension("links", _NoFeedExtension, _AtomEntryLinks, atom=True, rss=False)
    for published in spec.entries:
        entry = _entry(generator, published)
        article = published.article
        entry.links.add(href=article.url, rel="alternate", type="text/html")
        if article.image:
            entry.links.add(
                href=article.image.url,
                rel="enclosure",
                type=article.image.media_type or "application/octet-stream",
                **({"length": str(article.image.length)} if article.image.length else {}),
            )
        for author in article.authors or (spec.author,):
            entry.author(_person(author))
        entry.content(clean(feed_html(article)), type="html")
        if article.summary:
            entry.summary(clean(article.summary), type="text")
    return bytes(generator.atom_str(pretty=True))


def render_json_feed(spec: FeedSpec) -> bytes:
    """JSON Feed 1.1."""
    document: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.home_url,
        "feed_url": spec.file_url("json"),
        "description": spec.description,
        "language": spec.language,
        "authors": [_json_author(spec.author)],
        "items": [_json_item(published, spec.author) for published in spec.entries],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def feed_html(article: Article) -> str:
    """The article's HTML as readers see it: hero image with caption and credit, then the body."""
    image = article.image
    if image is None:
        return article.body_html
    caption = " ".join(part for part in (image.caption, image.credit) if part)
    figure = f'<figure><img src="{escape(image.url)}" alt="{escape(image.alt)}">'
    if caption:
        figure += f"<figcaption>{escape(caption)}</figcaption>"
    return figure + "</figure>\n" + article.body_html


def _generator(spec: FeedSpec) -> FeedGenerator:
    generator = FeedGenerator()
    generator.title(clean(spec.title))
    generator.language(spec.language)
    generator.generator(GENERATOR, version=__version__)
    generator.updated(spec.updated())
    return generator


def _entry(generator: FeedGenerator, published: PublishedArticle) -> FeedEntry:
    article = published.article
    entry = generator.add_entry(order="append")
    entry.guid(published.guid, permalink=published.guid == article.url)
    entry.title(clean(article.title).strip() or UNTITLED)
    entry.published(article.date)
    entry.updated(published.updated)
    for category in article.categories:
        entry.category(term=category.slug, label=clean(category.name))
    if article.origin is not None:  # an upstream feed's item credits its source
        entry.source(url=article.origin.feed_url, title=clean(article.origin.title))
    return entry


class _AtomEntryLinks(BaseEntryExtension):  # type: ignore[misc]
    """Entry links with their attributes: feedgen 1.0 drops rel, type and length from them."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def add(self, **attributes: str) -> None:
        self.links.append(attributes)

    def extend_atom(self, entry: Any) -> Any:
        for attributes in self.links:
            # Unqualified, as feedgen writes its own: a prefixed Atom namespace draws a W3C
            # validator warning (AvoidNamespacePrefix).
            etree.SubElement(entry, "link", attributes)
        return entry


class _NoFeedExtension(BaseExtension):  # type: ignore[misc]
    pass


def _person(author: Author) -> dict[str, str]:
    person = {"name": clean(author.name)}
    if author.email:
        person["email"] = author.email
    if author.url:
        person["uri"] = author.url
    return person


def _json_author(author: Author) -> dict[str, str]:
    return {"name": author.name, **({"url": author.url} if author.url else {})}


def _json_item(published: PublishedArticle, site_author: Author) -> dict[str, Any]:
    article = published.article
    item: dict[str, Any] = {
        "id": published.guid,
        "url": article.url,
        "title": article.title,
        "content_html": feed_html(article),
        "summary": article.summary,
        "date_published": article.date.isoformat(),
        "date_modified": published.updated.isoformat(),
        "authors": [_json_author(author) for author in article.authors or (site_author,)],
        "tags": [category.name for category in article.categories] + list(article.tags),
    }
    if article.origin is not None:  # JSON Feed has no source field: an extension says it
        item["_source"] = {"title": article.origin.title, "feed_url": article.origin.feed_url}
    if article.image:
        item["image"] = article.image.url
        attachment: dict[str, Any] = {
            "url": article.image.url,
            "mime_type": article.image.media_type or "application/octet-stream",
        }
        if article.image.length:
            attachment["size_in_bytes"] = article.image.length
        item["attachments"] = [attachment]
    return item
