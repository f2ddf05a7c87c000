"""Build RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents from public articles: a pure function."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Any
from urllib.parse import urljoin, urlsplit

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from publisher import __version__
from publisher.config import Config, ContentMode, FeedFormat
from publisher.content.articles import (
    Article,
    Audio,
    Author,
    Category,
    Image,
    Origin,
    PublishedArticle,
)
from publisher.content.authors import AuthorDirectory
from publisher.content.markup import strip_forbidden_characters as clean
from publisher.i18n.catalogs import translations_for
from publisher.urls import author_folder, category_folder, category_url, folder_url
from publisher.wording import local_time

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
# RFC 5005 archive pages: feeds/archive/<n>.xml (RSS), .atom and .json.
ARCHIVE_FOLDER = "archive"
ARCHIVE_SUFFIXES: dict[FeedFormat, str] = {"rss": ".xml", "atom": ".atom", "json": ".json"}
ARCHIVE_PAGE = re.compile(r"^[1-9][0-9]*(\.xml|\.atom|\.json)$")
PODCAST_FOLDER = "podcast"
HISTORY_NAMESPACE = "http://purl.org/syndication/history/1.0"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
ITUNES_NAMESPACE = "http://www.itunes.com/dtds/podcast-1.0.dtd"
# RSS's <image> takes only these; other channel images appear in Atom and JSON Feed alone.
RSS_IMAGE_SUFFIXES = (".gif", ".jpg", ".jpeg", ".png")
# An enclosure must name a media type: this one when the article does not give it.
UNKNOWN_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class PodcastChannel:
    """What makes a feed a podcast feed: the iTunes channel tags, the image resolved."""

    category: str
    subcategory: str | None
    explicit: bool
    owner_name: str
    owner_email: str
    image: str | None
    author: str
    type: str


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed (the site's, a category's, an author's, the podcast, an archive page)."""

    folder: str  # relative to the feeds folder: "", "categories/<slug>", "authors/<slug>"...
    title: str
    home_url: str
    feed_url: str  # the folder's URL; file names are appended
    description: str
    language: str
    author: Author
    entries: tuple[PublishedArticle, ...]
    content: ContentMode = "full"
    icon: str | None = None  # square: Atom icon, JSON Feed icon and favicon, RSS <image>
    logo: str | None = None  # wide: Atom logo (and RSS <image> when there is no icon)
    hub: str | None = None  # the WebSub hub
    page: int | None = None  # set for an RFC 5005 archive page: its number
    prev_archive: int | None = None  # the archive page before this one (the newest, if current)
    next_archive: int | None = None  # the archive page after this one, once it is full
    archive_url: str | None = None  # the archive pages' folder URL
    current_url: str | None = None  # for archive pages: the current feed's folder URL
    podcast: PodcastChannel | None = None
    zone: tzinfo = UTC  # the site's: every date is written on its clock, as its pages show it

    def file_path(self, feed_format: FeedFormat) -> str:
        """The file's path relative to the feeds folder."""
        if self.page is not None:
            return f"{self.folder}/{self.page}{ARCHIVE_SUFFIXES[feed_format]}"
        return f"{self.folder}/{FILE_NAMES[feed_format]}".lstrip("/")

    def file_url(self, feed_format: FeedFormat) -> str:
        if self.page is not None:
            return urljoin(self.feed_url, f"{self.page}{ARCHIVE_SUFFIXES[feed_format]}")
        return urljoin(self.feed_url, FILE_NAMES[feed_format])

    def prev_archive_url(self, feed_format: FeedFormat) -> str | None:
        """The `prev-archive` link (JSON Feed: `next_url`), if there is an older page."""
        if self.prev_archive is None or self.archive_url is None:
            return None
        return urljoin(self.archive_url, f"{self.prev_archive}{ARCHIVE_SUFFIXES[feed_format]}")

    def next_archive_url(self, feed_format: FeedFormat) -> str | None:
        """The `next-archive` link of an archive page whose successor is full."""
        if self.next_archive is None or self.archive_url is None:
            return None
        return urljoin(self.archive_url, f"{self.next_archive}{ARCHIVE_SUFFIXES[feed_format]}")

    def current_file_url(self, feed_format: FeedFormat) -> str | None:
        """An archive page's `current` link: the subscription document of the same format."""
        if self.current_url is None:
            return None
        return urljoin(self.current_url, FILE_NAMES[feed_format])

    def updated(self) -> datetime:
        newest = max((entry.updated for entry in self.entries), default=EMPTY_FEED_UPDATED)
        return local_time(newest, self.zone)


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A file an entry carries (an episode's audio, the article's image), as feeds declare it."""

    url: str
    media_type: str  # UNKNOWN_MEDIA_TYPE when the article does not say
    length: int | None  # in bytes, when known
    duration: int | None = None  # in seconds, for audio


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry as every format shows it, each rule decided once for its feed.

    Texts are the article's own: the XML writers make them XML-safe as they spell them.
    """

    guid: str
    url: str
    title: str
    published: datetime
    updated: datetime
    authors: tuple[Author, ...]  # the article's, else the feed's
    content_html: str | None  # full-content feeds: the image and its caption, then the body
    content_text: str | None  # summary feeds: the teaser
    summary: str  # the article's own, maybe empty
    teaser: str  # the summary, else the title: the line that stands for the article
    categories: tuple[Category, ...]
    tags: tuple[str, ...]
    enclosures: tuple[Enclosure, ...]  # the audio first, then the image
    audio: Enclosure | None
    image: Image | None
    episode: bool  # a podcast feed's entry with audio: it gets the iTunes episode tags
    origin: Origin | None  # an upstream feed's item names its source


def feed_specs(
    config: Config,
    articles: Sequence[PublishedArticle],
    last_sequence: int | None = None,
    authors: AuthorDirectory | None = None,
) -> list[FeedSpec]:
    """The site feed, one feed per category and per author, the podcast feed and the site
    feed's archive pages.

    Each current feed holds the newest `max_items` articles; the site feed also holds every
    article not yet on a full archive page. `last_sequence` is the last publication number
    handed out (default: the highest among `articles`): it decides which pages are full.
    """
    site = config.site
    newest_first = sorted(articles, key=lambda a: (-a.article.date.timestamp(), a.guid))
    site_feed = FeedSpec(
        folder="",
        title=site.title,
        home_url=site.url,
        feed_url=config.feeds_url,
        description=site.description or site.title,
        language=site.language,
        author=site_author(config),
        entries=tuple(newest_first[: config.feeds.max_items]),
    )
    specs = [site_feed, *category_specs(config, newest_first)]
    if authors is not None:
        specs += author_specs(config, newest_first, authors)
    return _finished(config, specs, newest_first, last_sequence)


def site_author(config: Config) -> Author:
    """The site's author: the author of its own feeds, and of entries that name nobody."""
    author = config.site.author
    return Author(author.name, author.email, author.url)


def category_specs(config: Config, newest_first: Sequence[PublishedArticle]) -> list[FeedSpec]:
    """One feed per category, by slug, with the category's content mode."""
    site, limit = config.site, config.feeds.max_items
    words = translations_for(site.language, config.locale_dir)
    names = {c.slug: c.name for a in newest_first for c in reversed(a.article.categories)}
    in_category: dict[str, list[PublishedArticle]] = {slug: [] for slug in names}
    for published in newest_first:
        for slug in {category.slug for category in published.article.categories}:
            in_category[slug].append(published)
    specs = []
    for slug in sorted(names):
        members = in_category[slug]
        folder = category_folder(slug)
        specs.append(
            FeedSpec(
                folder=folder,
                title=f"{site.title}: {names[slug]}",
                home_url=category_url(site.url, slug),
                feed_url=folder_url(config.feeds_url, folder),
                description=words.gettext("%(category)s from %(site)s")
                % {"category": names[slug], "site": site.title},
                language=site.language,
                author=site_author(config),
                entries=tuple(members[:limit]),
                content=config.feeds.category_content.get(slug, config.feeds.content),
            )
        )
    return specs


def author_specs(
    config: Config, newest_first: Sequence[PublishedArticle], authors: AuthorDirectory
) -> list[FeedSpec]:
    """One feed per author with a page, the author's name on the feed."""
    site, limit = config.site, config.feeds.max_items
    words = translations_for(site.language, config.locale_dir)
    specs = []
    for group in authors.groups(newest_first):
        byline, folder = group.byline, author_folder(group.byline.slug)
        specs.append(
            FeedSpec(
                folder=folder,
                title=f"{site.title}: {byline.name}",
                home_url=byline.page_url,
                feed_url=folder_url(config.feeds_url, folder),
                description=words.gettext("Articles by %(author)s from %(site)s")
                % {"author": byline.name, "site": site.title},
                language=site.language,
                author=Author(byline.name, None, byline.page_url),
                entries=group.entries[:limit],
                content=config.feeds.content,
            )
        )
    return specs


def _finished(
    config: Config,
    specs: list[FeedSpec],
    newest_first: list[PublishedArticle],
    last_sequence: int | None,
) -> list[FeedSpec]:
    """Channel images and the hub on every feed; the podcast feed; the site feed's archive."""
    icon = config.icon.url if config.icon else None
    logo = config.logo.url if config.logo else None
    hub = config.feeds.websub_hub
    zone = config.site.zone
    finished = [replace(spec, icon=icon, logo=logo, hub=hub, zone=zone) for spec in specs]
    podcast = podcast_spec(config, newest_first)
    if podcast is not None:
        finished.append(replace(podcast, icon=icon, logo=logo, hub=hub, zone=zone))
    if last_sequence is None:
        last_sequence = max((a.sequence or 0 for a in newest_first), default=0)
    site, pages = archive_pages(config, finished[0], newest_first, last_sequence)
    return [site, *finished[1:], *pages]


def podcast_spec(config: Config, newest_first: Sequence[PublishedArticle]) -> FeedSpec | None:
    """`feeds/podcast/`: the newest `max_items` articles with audio, if `[feeds.podcast]` is set."""
    podcast = config.feeds.podcast
    if podcast is None:
        return None
    site = config.site
    episodes = [published for published in newest_first if published.article.audio]
    image = config.icon.url if config.icon else None
    if podcast.image:
        image = urljoin(config.media_url, podcast.image)  # an absolute URL stays as it is
    return FeedSpec(
        folder=PODCAST_FOLDER,
        title=podcast.title or site.title,
        home_url=site.url,
        feed_url=folder_url(config.feeds_url, PODCAST_FOLDER),
        description=site.description or site.title,
        language=site.language,
        author=site_author(config),
        entries=tuple(episodes[: config.feeds.max_items]),
        content=config.feeds.content,
        podcast=PodcastChannel(
            category=podcast.category,
            subcategory=podcast.subcategory,
            explicit=podcast.explicit,
            owner_name=podcast.owner.name,
            owner_email=podcast.owner.email,
            image=image,
            author=podcast.author or site.author.name,
            type=podcast.type,
        ),
    )


def archive_pages(
    config: Config, site: FeedSpec, newest_first: Sequence[PublishedArticle], last_sequence: int
) -> tuple[FeedSpec, list[FeedSpec]]:
    """The site feed linked to its RFC 5005 archive, and the archive's full pages.

    Page n holds the articles with publication numbers (n-1)*size+1 to n*size, so a page is
    written once all its numbers are handed out; its articles never change after (save for
    edits of them), and it changes once more only to gain a `next-archive` link when the next
    page fills. The current feed holds every article past the last full page.
    """
    size = config.feeds.archive_page_size
    full = last_sequence // size
    if full == 0:
        return site, []
    archive_url = folder_url(config.feeds_url, ARCHIVE_FOLDER)
    unarchived = [a for a in newest_first if a.sequence is None or a.sequence > full * size]
    shown = {a.guid for a in site.entries} | {a.guid for a in unarchived}
    current = replace(
        site,
        entries=tuple(a for a in newest_first if a.guid in shown),
        prev_archive=full,
        archive_url=archive_url,
    )
    on_page: dict[int, list[PublishedArticle]] = {number: [] for number in range(1, full + 1)}
    for published in newest_first:
        if published.sequence and published.sequence <= full * size:
            on_page[(published.sequence - 1) // size + 1].append(published)
    pages = []
    for number, members in on_page.items():
        pages.append(
            replace(
                site,
                folder=ARCHIVE_FOLDER,
                title=f"{site.title} (archive {number})",
                feed_url=archive_url,
                entries=tuple(members),
                hub=None,  # nobody subscribes to a page that never changes
                page=number,
                prev_archive=number - 1 or None,
                next_archive=number + 1 if number < full else None,
                archive_url=archive_url,
                current_url=site.feed_url,
            )
        )
    return current, pages


def websub_link_header(hub: str, self_url: str) -> str:
    """The `Link` header naming a feed's WebSub hub and its own URL (the topic)."""
    return f'<{hub}>; rel="hub", <{self_url}>; rel="self"'


def feed_media_type(relative: str) -> str | None:
    """The media type of a file the build writes, by its path in the feeds folder; else None."""
    folder, _, name = relative.rpartition("/")
    for feed_format, file_name in FILE_NAMES.items():
        if name == file_name:
            return MEDIA_TYPES[feed_format]
    if folder == ARCHIVE_FOLDER and ARCHIVE_PAGE.match(name):
        suffix = name[name.index(".") :]
        return next(MEDIA_TYPES[f] for f, ending in ARCHIVE_SUFFIXES.items() if ending == suffix)
    return None


def is_current_feed(relative: str) -> bool:
    """Whether a feed file is one readers subscribe to (not an archive page)."""
    folder, _, name = relative.rpartition("/")
    return name in FILE_NAMES.values() and folder != ARCHIVE_FOLDER


def render_feeds(specs: Sequence[FeedSpec], formats: Sequence[FeedFormat]) -> dict[str, bytes]:
    """Every feed file's bytes, keyed by its path relative to the feeds folder."""
    return {
        spec.file_path(feed_format): render_feed(spec, feed_format)
        for spec in specs
        for feed_format in formats
    }


def render_feed(spec: FeedSpec, feed_format: FeedFormat) -> bytes:
    """One feed file's bytes in one format."""
    renderers: dict[FeedFormat, Callable[[FeedSpec], bytes]] = {
        "rss": render_rss,
        "atom": render_atom,
        "json": render_json_feed,
    }
    return renderers[feed_format](spec)


def feed_items(spec: FeedSpec) -> list[FeedItem]:
    """The feed's entries, newest first, as every format shows them."""
    return [feed_item(published, spec) for published in spec.entries]


def feed_item(published: PublishedArticle, spec: FeedSpec) -> FeedItem:
    """One entry of `spec`'s feed: its content or summary, authors, enclosures and links."""
    article = published.article
    full = spec.content == "full"
    teaser = article.summary or article.title
    audio = _audio_enclosure(article.audio) if article.audio else None
    image = _image_enclosure(article.image) if article.image else None
    return FeedItem(
        guid=published.guid,
        url=article.url,
        title=article.title,
        published=local_time(article.date, spec.zone),
        updated=local_time(published.updated, spec.zone),
        authors=article.authors or (spec.author,),
        content_html=feed_html(article) if full else None,
        content_text=None if full else teaser,
        summary=article.summary,
        teaser=teaser,
        categories=article.categories,
        tags=article.tags,
        enclosures=tuple(found for found in (audio, image) if found is not None),
        audio=audio,
        image=article.image,
        episode=spec.podcast is not None and audio is not None,
        origin=article.origin,
    )


def _audio_enclosure(audio: Audio) -> Enclosure:
    media_type = audio.media_type or UNKNOWN_MEDIA_TYPE
    return Enclosure(audio.url, media_type, audio.length, duration=audio.duration)


def _image_enclosure(image: Image) -> Enclosure:
    media_type = image.media_type or UNKNOWN_MEDIA_TYPE
    return Enclosure(image.url, media_type, image.length)


def render_rss(spec: FeedSpec) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator, enclosures and an atom:link to itself."""
    generator = _generator(spec)
    # Loaded on the feed, so the namespaces are declared once on the root element.
    generator.load_extension("dc")
    generator.load_extension("media")
    if spec.podcast is not None:
        generator.load_extension("podcast")
        _podcast_channel(generator, spec.podcast)
    _rss_channel(generator, spec)
    for item in feed_items(spec):
        _rss_entry(generator, item)
    return bytes(generator.rss_str(pretty=True))


def _rss_channel(generator: FeedGenerator, spec: FeedSpec) -> None:
    generator.description(clean(spec.description))
    # feedgen writes the *last* link added as the RSS <link>, so the self link goes first.
    generator.link(href=spec.file_url("rss"), rel="self", type=MEDIA_TYPES["rss"])
    generator.link(href=spec.home_url, rel="alternate")
    image = next((url for url in (spec.icon, spec.logo) if url and _rss_image_ok(url)), None)
    if image:
        # The validator wants the image's title and link to be the channel's.
        generator.image(url=image, title=clean(spec.title), link=spec.home_url)
    links = _channel_links(spec, "rss")
    if links or spec.page is not None or spec.podcast is not None:
        generator.register_extension(
            "history", _ChannelExtension, _NoEntryExtension, atom=False, rss=True
        )
        # feedgen writes itunes:explicit as yes/no; Apple and the validator want true/false.
        explicit = None if spec.podcast is None else spec.podcast.explicit
        generator.history.set(links, archive=spec.page is not None, explicit=explicit)


def _rss_entry(generator: FeedGenerator, item: FeedItem) -> None:
    entry = _entry(generator, item)
    entry.link(href=item.url)
    if item.enclosures:  # RSS allows one enclosure: an episode's is its audio
        enclosure = item.enclosures[0]
        entry.enclosure(
            url=enclosure.url, length=str(enclosure.length or 0), type=enclosure.media_type
        )
    for author in item.authors:
        entry.dc.dc_creator(clean(author.name))
    if item.content_html is not None:
        entry.content(clean(item.content_html))
    # RSS descriptions are read as HTML, so the plain-text summary is escaped for it.
    entry.description(escape(clean(item.teaser), quote=False), isSummary=True)
    if item.image:
        entry.media.content(
            url=item.image.url,
            type=item.image.media_type,
            medium="image",
            fileSize=str(item.image.length) if item.image.length else None,
            group=None,
        )
    if item.episode:
        _podcast_episode(entry, item)


def render_atom(spec: FeedSpec) -> bytes:
    """Atom 1.0 with full HTML content, a plain-text summary and an author on every entry."""
    generator = _generator(spec)
    _atom_channel(generator, spec)
    generator.register_extension("links", _NoFeedExtension, _AtomEntryLinks, atom=True, rss=False)
    for item in feed_items(spec):
        _atom_entry(generator, item)
    return bytes(generator.atom_str(pretty=True))


def _atom_channel(generator: FeedGenerator, spec: FeedSpec) -> None:
    generator.id(spec.file_url("atom"))
    if spec.description:
        generator.subtitle(clean(spec.description))
    generator.author(_person(spec.author))
    generator.link(href=spec.home_url, rel="alternate", type="text/html")
    generator.link(href=spec.file_url("atom"), rel="self", type=MEDIA_TYPES["atom"])
    for attributes in _channel_links(spec, "atom"):
        generator.link(**attributes)
    if spec.logo:
        generator.logo(spec.logo)
    if spec.icon:
        generator.icon(spec.icon)
    if spec.page is not None:
        generator.register_extension(
            "history", _ChannelExtension, _NoEntryExtension, atom=True, rss=False
        )
        generator.history.set([], archive=True)


def _atom_entry(generator: FeedGenerator, item: FeedItem) -> None:
    entry = _entry(generator, item)
    if item.content_html is not None:
        entry.links.add(href=item.url, rel="alternate", type="text/html")
    else:  # feedgen refuses an entry without content unless it knows the alternate link
        entry.link(href=item.url, rel="alternate")
    for enclosure in item.enclosures:
        entry.links.add(
            href=enclosure.url,
            rel="enclosure",
            type=enclosure.media_type,
            **({"length": str(enclosure.length)} if enclosure.length else {}),
        )
    for author in item.authors:
        entry.author(_person(author))
    if item.content_html is not None:
        entry.content(clean(item.content_html), type="html")
    # An entry without content needs a summary: there, the title stands in for a missing one.
    summary = item.summary or item.content_text
    if summary:
        entry.summary(clean(summary), type="text")


def render_json_feed(spec: FeedSpec) -> bytes:
    """JSON Feed 1.1."""
    document: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.home_url,
        "feed_url": spec.file_url("json"),
        "description": spec.description,
    }
    next_url = spec.prev_archive_url("json")
    if next_url:  # JSON Feed pages go from newer to older, as prev-archive does
        document["next_url"] = next_url
    if spec.icon:
        document["icon"] = spec.icon
        document["favicon"] = spec.icon
    document |= {
        "language": spec.language,
        "authors": [_json_author(spec.author)],
    }
    if spec.hub:
        document["hubs"] = [{"type": "WebSub", "url": spec.hub}]
    document["items"] = [_json_item(item) for item in feed_items(spec)]
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


def _entry(generator: FeedGenerator, item: FeedItem) -> FeedEntry:
    entry = generator.add_entry(order="append")
    entry.guid(item.guid, permalink=item.guid == item.url)
    entry.title(clean(item.title).strip() or UNTITLED)
    entry.published(item.published)
    entry.updated(item.updated)
    for category in item.categories:
        entry.category(term=category.slug, label=clean(category.name))
    if item.origin is not None:  # an upstream feed's item credits its source
        entry.source(url=item.origin.feed_url, title=clean(item.origin.title))
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


class _NoEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    pass


class _ChannelExtension(BaseExtension):  # type: ignore[misc]
    """RSS channel links feedgen leaves out (hub, RFC 5005), and RFC 5005's fh:archive."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []
        self.archive = False
        self.explicit: bool | None = None

    def set(
        self, links: list[dict[str, str]], *, archive: bool, explicit: bool | None = None
    ) -> None:
        self.links, self.archive, self.explicit = links, archive, explicit

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NAMESPACE} if self.archive else {}

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        for attributes in self.links:
            etree.SubElement(channel, f"{{{ATOM_NAMESPACE}}}link", attributes)
        if self.archive:
            etree.SubElement(channel, f"{{{HISTORY_NAMESPACE}}}archive")
        if self.explicit is not None:
            element = etree.SubElement(channel, f"{{{ITUNES_NAMESPACE}}}explicit")
            element.text = "true" if self.explicit else "false"
        return feed

    def extend_atom(self, feed: Any) -> Any:
        if self.archive:
            etree.SubElement(feed, f"{{{HISTORY_NAMESPACE}}}archive")
        return feed


def _person(author: Author) -> dict[str, str]:
    person = {"name": clean(author.name)}
    if author.email:
        person["email"] = author.email
    if author.url:
        person["uri"] = author.url
    return person


def _json_author(author: Author) -> dict[str, str]:
    return {"name": author.name, **({"url": author.url} if author.url else {})}


def _json_item(item: FeedItem) -> dict[str, Any]:
    document: dict[str, Any] = {"id": item.guid, "url": item.url, "title": item.title}
    if item.content_html is not None:
        document["content_html"] = item.content_html
    else:
        document["content_text"] = item.content_text
    document |= {
        "summary": item.summary,
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
        "authors": [_json_author(author) for author in item.authors],
        "tags": [category.name for category in item.categories] + list(item.tags),
    }
    if item.origin is not None:  # JSON Feed has no source field: an extension says it
        document["_source"] = {"title": item.origin.title, "feed_url": item.origin.feed_url}
    if item.image:
        document["image"] = item.image.url
    if item.enclosures:
        document["attachments"] = [_json_attachment(found) for found in item.enclosures]
    return document


def _json_attachment(enclosure: Enclosure) -> dict[str, Any]:
    attachment: dict[str, Any] = {"url": enclosure.url, "mime_type": enclosure.media_type}
    if enclosure.length:
        attachment["size_in_bytes"] = enclosure.length
    if enclosure.duration is not None:
        attachment["duration_in_seconds"] = enclosure.duration
    return attachment


def _rss_image_ok(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(RSS_IMAGE_SUFFIXES)


def _channel_links(spec: FeedSpec, feed_format: FeedFormat) -> list[dict[str, str]]:
    """The channel's links beyond self and alternate: hub, current, prev-archive."""
    links = []
    if spec.hub:
        links.append({"href": spec.hub, "rel": "hub"})
    current = spec.current_file_url(feed_format)
    if current:
        links.append({"href": current, "rel": "current", "type": MEDIA_TYPES[feed_format]})
    previous = spec.prev_archive_url(feed_format)
    if previous:
        links.append({"href": previous, "rel": "prev-archive", "type": MEDIA_TYPES[feed_format]})
    following = spec.next_archive_url(feed_format)
    if following:
        links.append({"href": following, "rel": "next-archive", "type": MEDIA_TYPES[feed_format]})
    return links


def _podcast_channel(generator: FeedGenerator, podcast: PodcastChannel) -> None:
    category = {"cat": podcast.category}
    if podcast.subcategory:
        category["sub"] = podcast.subcategory
    generator.podcast.itunes_category(category)
    generator.podcast.itunes_owner(name=clean(podcast.owner_name), email=podcast.owner_email)
    generator.podcast.itunes_author(clean(podcast.author))
    generator.podcast.itunes_type(podcast.type)
    if podcast.image:
        generator.podcast.itunes_image(podcast.image)


def _podcast_episode(entry: FeedEntry, item: FeedItem) -> None:
    if item.audio and item.audio.duration is not None:
        entry.podcast.itunes_duration(_clock_time(item.audio.duration))
    if item.summary:
        entry.podcast.itunes_summary(clean(item.summary))


def _clock_time(seconds: int) -> str:
    """Seconds as H:MM:SS, or M:SS under an hour (what podcast apps show)."""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
