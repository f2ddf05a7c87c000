"""Upstream feeds, the pure core: fetched bytes in, sanitized items out, GUIDs namespaced by source.

RSS 0.9x/1.0/2.0 and Atom are read with feedparser, JSON Feed 1.0/1.1 with a small pydantic
model. Every item's HTML goes through the same nh3 sanitizing as articles (`markup`), with
relative URLs resolved against the item's base (`xml:base`, else the feed's URL).
"""

from __future__ import annotations

import codecs
import hashlib
import html
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import feedparser
import nh3
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slugify import slugify

from publisher.content.articles import Article, Author, Category, Origin, category_slug
from publisher.content.markup import (
    cut_at_word,
    plain_text,
    sanitize_html,
    strip_forbidden_characters,
)
from publisher.errors import SourceError

ContentChoice = Literal["full", "summary"]
_CHARSET = re.compile(r"charset\s*=\s*\"?([^\";\s]*)", re.IGNORECASE)
_BLOCK_END = re.compile(r"</(?:p|div|li|h[1-6]|blockquote|pre|td|tr)\s*>|<br\s*/?>", re.IGNORECASE)
# Not malformations: the document parsed, only its declared type or encoding was corrected.
_HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
SLUG_LENGTH = 80
# An upstream title becomes a Subject: line and a page heading: longer is an attack or a bug.
MAX_TITLE = 300
# Dates outside these years are a feed's mistake (`0001-01-01`, `9999-12-31`): taken as no
# date, so the item is dated when first seen and no later date arithmetic can overflow.
EARLIEST_YEAR, LATEST_YEAR = 1900, 9000
_JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """What parsing needs to know about a source."""

    name: str
    title: str = ""
    categories: tuple[str, ...] = ()
    author: str | None = None
    content: ContentChoice = "full"


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of an upstream feed, sanitized; `date` is None when the feed gives none."""

    item_id: str  # SHA-256 of the upstream GUID: the item's identity within its source
    upstream_guid: str
    url: str
    title: str
    date: datetime | None
    updated: datetime | None
    authors: tuple[Author, ...]
    summary: str
    body_html: str
    categories: tuple[Category, ...]
    tags: tuple[str, ...]
    content_hash: str


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed upstream feed: its title and home page, its items in feed order, any problem."""

    title: str
    home_url: str | None
    items: tuple[FeedItem, ...]
    problem: str | None = None


def parse_feed(
    data: bytes, url: str, content_type: str | None, settings: SourceSettings
) -> ParsedFeed:
    """Parse a fetched feed document; SourceError when nothing usable comes out of it.

    `url` is where the document was fetched from (the base of relative URLs); `content_type`
    is the HTTP header, whose charset decides the encoding when the document declares none.
    """
    if _looks_like_json(data, content_type):
        return _parse_json_feed(data, url, settings)
    return _parse_xml_feed(data, url, content_type, settings)


def item_guid(site_url: str, source: str, upstream_guid: str) -> str:
    """The GUID this site gives an upstream item: a tag URI inside the source's namespace.

    Local articles' GUIDs never contain `sources/`, so the two can never collide.
    """
    host = urlsplit(site_url).hostname or "localhost"
    return f"tag:{host},2026:sources/{source}/{item_id(upstream_guid)}"


def item_id(upstream_guid: str) -> str:
    """An item's identity within its source: the SHA-256 of its upstream GUID."""
    return hashlib.sha256(upstream_guid.encode("utf-8")).hexdigest()


def item_article(item: FeedItem, origin: Origin, first_seen: datetime) -> Article:
    """The article an item is stored as; a missing (or future) date is the time first seen."""
    date = item.date if item.date is not None and item.date <= first_seen else first_seen
    slug = str(slugify(item.title, max_length=SLUG_LENGTH, word_boundary=True))
    return Article(
        source=f"sources/{origin.name}",
        key=None,
        slug=slug or item.item_id[:16],
        url=item.url,
        title=item.title,
        date=date,
        updated=item.updated if item.updated is not None and item.updated > date else None,
        authors=item.authors,
        summary=item.summary,
        body_html=item.body_html,
        image=None,
        categories=item.categories,
        tags=item.tags,
        draft=False,
        origin=origin,
    )


def newest_first(items: Iterable[FeedItem]) -> list[FeedItem]:
    """Items by date, newest first; undated items count as newest, in feed order."""
    listed = list(items)
    newest = datetime.max.replace(tzinfo=UTC)
    return sorted(listed, key=lambda item: -(item.date or newest).timestamp())


# RSS and Atom -----------------------------------------------------------------------------


def _usable_content_type(content_type: str | None) -> str:
    """The Content-Type header for feedparser, without a charset Python cannot decode
    (`charset=undefined`, an unknown name): the document's own declaration decides then."""
    if not content_type:
        return "application/xml"
    kind, _, parameters = content_type.partition(";")
    charset = _CHARSET.search(parameters)
    if charset is None:
        return content_type
    try:
        usable = codecs.lookup(charset.group(1)).name != "undefined"
    except (LookupError, ValueError):
        usable = False
    return content_type if usable else kind.strip()


def _parse_xml_feed(
    data: bytes, url: str, content_type: str | None, settings: SourceSettings
) -> ParsedFeed:
    # No content-location: feedparser would resolve GUIDs against it, and a GUID must not
    # change when the feed moves. Links and HTML are resolved here against `url` instead.
    headers = {"content-type": _usable_content_type(content_type)}
    try:
        # A stream, never bytes or text: feedparser would take a string for a URL or file name.
        parsed = feedparser.parse(
            io.BytesIO(data),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=True,
        )
    except Exception as error:  # anyone upstream can send anything: one feed, not the gather
        raise SourceError(
            f"source {settings.name}: {url}: not a readable feed ({type(error).__name__})"
        ) from None
    problem = None
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), _HARMLESS):
        problem = f"malformed feed: {parsed.get('bozo_exception')}"
    if not parsed.entries and (problem or not parsed.get("version")):
        raise SourceError(
            f"source {settings.name}: {url}: not an RSS, Atom or JSON feed"
            + (f" ({problem})" if problem else "")
        )
    feed = parsed.feed
    home = _http_url(feed.get("link"), url)
    feed_author = _feed_author(feed, settings)
    builder = _ItemBuilder(settings, feed_author)
    items, dropped = [], []
    for index, entry in enumerate(parsed.entries):
        try:
            items.append(builder.from_entry(entry, url))
        except (ValueError, OverflowError, TypeError) as error:  # one item, not the feed
            dropped.append(f"item {index}: {error}")
    if dropped:
        problem = "; ".join(filter(None, [problem, f"unreadable items: {'; '.join(dropped)}"]))
    return ParsedFeed(_text(feed.get("title_detail")), home, _unique(items), problem)


def _feed_author(feed: Mapping[str, Any], settings: SourceSettings) -> tuple[Author, ...]:
    if settings.author:
        return (Author(plain_text(settings.author)),)
    names = _names(feed.get("authors") or [])
    if names:
        return names
    title = _text(feed.get("title_detail")) or settings.title or settings.name
    return (Author(title),)


class _ItemBuilder:
    def __init__(self, settings: SourceSettings, fallback_authors: tuple[Author, ...]) -> None:
        self.settings = settings
        self.fallback_authors = fallback_authors
        self.categories = _categories(settings.categories)

    def from_entry(self, entry: Mapping[str, Any], feed_url: str) -> FeedItem:
        link = _http_url(entry.get("link"), feed_url)
        title = _text(entry.get("title_detail"))
        guid = plain_text(str(entry.get("id") or "")) or _fallback_guid(link, title)
        contents = [c for c in entry.get("content") or [] if c.get("value")]
        summary = entry.get("summary_detail")
        chosen = contents[0] if contents else summary
        if self.settings.content == "summary" and summary is not None and summary.get("value"):
            chosen = summary
        body = _html(chosen, feed_url)
        return self.item(
            guid=guid,
            url=link or feed_url,
            title=title,
            date=_struct_time(_raw(entry, "published_parsed") or _raw(entry, "updated_parsed")),
            updated=_struct_time(_raw(entry, "updated_parsed")),
            authors=_names(entry.get("authors") or []),
            summary=_plain(_html(summary, feed_url)) if summary is not None else "",
            body_html=body,
            tags=[tag.get("label") or tag.get("term") or "" for tag in entry.get("tags") or []],
        )

    def item(
        self,
        *,
        guid: str,
        url: str,
        title: str,
        date: datetime | None,
        updated: datetime | None,
        authors: tuple[Author, ...],
        summary: str,
        body_html: str,
        tags: Iterable[str],
    ) -> FeedItem:
        summary = cut_at_word(summary or _plain(body_html))
        title = cut_at_word(title, MAX_TITLE) if title else cut_at_word(summary, 80) or "Untitled"
        date, updated = _sane(date), _sane(updated)
        values: dict[str, Any] = {
            "url": url,
            "title": title,
            "date": date.isoformat() if date else None,
            "updated": updated.isoformat() if updated else None,
            "authors": [author.name for author in authors or self.fallback_authors],
            "summary": summary,
            "body_html": body_html,
            "tags": list(dict.fromkeys(t for t in map(plain_text, tags) if t)),
        }
        content_hash = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
        return FeedItem(
            item_id=item_id(guid),
            upstream_guid=guid,
            url=url,
            title=title,
            date=date,
            updated=updated,
            authors=authors or self.fallback_authors,
            summary=summary,
            body_html=body_html,
            categories=self.categories,
            tags=tuple(values["tags"]),
            content_hash=content_hash,
        )


def _text(detail: Mapping[str, Any] | None) -> str:
    """A feed text construct as one line of plain text, whatever markup it was sent as."""
    if not detail or not detail.get("value"):
        return ""
    value = str(detail["value"])
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        value = _plain(value)
    return plain_text(value)


def _html(detail: Mapping[str, Any] | None, feed_url: str) -> str:
    """Sanitized HTML of a content or summary construct; plain text becomes paragraphs."""
    if not detail or not detail.get("value"):
        return ""
    value = str(detail["value"])
    base = str(detail.get("base") or feed_url)
    if detail.get("type") not in ("text/html", "application/xhtml+xml"):
        value = _paragraphs(value)
    return _sanitized(value, base)


def _raw(entry: Mapping[str, Any], key: str) -> Any:
    # dict.get, not the entry's own: feedparser maps a missing updated_parsed to
    # published_parsed (with a warning), and an item's update time must not be invented.
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _struct_time(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _names(people: Iterable[Mapping[str, Any]]) -> tuple[Author, ...]:
    authors = []
    for person in people:
        name = plain_text(str(person.get("name") or ""))
        if name:
            url = person.get("href") or person.get("url")
            authors.append(Author(name, url=url if _is_http(url) else None))
    return tuple(dict.fromkeys(authors))


# JSON Feed --------------------------------------------------------------------------------


class _JsonAuthor(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    url: str | None = None


class _JsonItem(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    id: str = Field(min_length=1)
    url: str | None = None
    external_url: str | None = None
    title: str | None = None
    content_html: str | None = None
    content_text: str | None = None
    summary: str | None = None
    date_published: datetime | None = None
    date_modified: datetime | None = None
    author: _JsonAuthor | None = None  # JSON Feed 1.0
    authors: list[_JsonAuthor] = []
    tags: list[str] = []


class _JsonFeed(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    title: str
    home_page_url: str | None = None
    author: _JsonAuthor | None = None
    authors: list[_JsonAuthor] = []
    items: list[dict[str, Any]]


def _looks_like_json(data: bytes, content_type: str | None) -> bool:
    # By the body, not the header: servers label feeds wrongly both ways.
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{":
        return True
    media_type = (content_type or "").split(";")[0].strip().lower()
    return start != b"<" and media_type in ("application/feed+json", "application/json")


def _parse_json_feed(data: bytes, url: str, settings: SourceSettings) -> ParsedFeed:
    fail = _json_failure(settings.name, url)
    try:
        document = json.loads(data.decode("utf-8-sig"))
        feed = _JsonFeed.model_validate(document)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"not valid JSON: {error}")
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
    if feed.version.rstrip("/") not in _JSON_FEED_VERSIONS:
        fail(f"unknown JSON Feed version {feed.version!r}")
    people = feed.authors or ([feed.author] if feed.author else [])
    fallback = _feed_author({"authors": [p.model_dump() for p in people]}, settings)
    builder = _ItemBuilder(settings, fallback)
    items, problems = [], []
    for index, raw in enumerate(feed.items):
        try:
            items.append(_json_item(builder, _JsonItem.model_validate(raw), url))
        except ValidationError as error:
            problems.append(f"items[{index}]: {error.errors()[0]['msg']}")
        except (ValueError, OverflowError, TypeError) as error:  # one item, not the feed
            problems.append(f"items[{index}]: {error}")
    problem = f"malformed items: {'; '.join(problems)}" if problems else None
    home = _http_url(feed.home_page_url, url)
    return ParsedFeed(plain_text(feed.title), home, _unique(items), problem)


def _json_failure(name: str, url: str) -> Callable[[str], Any]:
    def fail(message: str) -> Any:
        raise SourceError(f"source {name}: {url}: not a JSON Feed: {message}")

    return fail


def _json_item(builder: _ItemBuilder, item: _JsonItem, feed_url: str) -> FeedItem:
    if item.content_html:
        body = _sanitized(item.content_html, feed_url)
    else:
        body = _sanitized(_paragraphs(item.content_text or item.summary or ""), feed_url)
    if builder.settings.content == "summary" and item.summary:
        body = _sanitized(_paragraphs(item.summary), feed_url)
    people = item.authors or ([item.author] if item.author else [])
    return builder.item(
        guid=plain_text(item.id) or _fallback_guid(item.url, item.title or ""),
        url=_http_url(item.url or item.external_url, feed_url) or feed_url,
        title=plain_text(item.title or ""),
        date=_aware(item.date_published or item.date_modified),
        updated=_aware(item.date_modified),
        authors=_names(person.model_dump() for person in people),
        summary=plain_text(item.summary or ""),
        body_html=body,
        tags=item.tags,
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
        return None


def _sane(value: datetime | None) -> datetime | None:
    """`value`, or None when its year is outside EARLIEST_YEAR..LATEST_YEAR."""
    if value is None or not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        return None
    return value


# Shared -----------------------------------------------------------------------------------


def _sanitized(value: str, base: str) -> str:
    # Again after sanitizing: character references such as &#12; decode to forbidden characters.
    resolve = _resolver(base)
    return strip_forbidden_characters(sanitize_html(strip_forbidden_characters(value), resolve))


def _resolver(base: str) -> Callable[[str], str]:
    def resolve(url: str) -> str:
        url = url.strip()
        return urljoin(base, url) if url else url

    return resolve


def _plain(html_text: str) -> str:
    """The text of an HTML fragment, markup and scripts removed, on one line."""
    spaced = _BLOCK_END.sub(" ", html_text)
    stripped: str = nh3.clean(spaced, tags=set(), clean_content_tags={"script", "style"})
    return plain_text(html.unescape(stripped))


def _paragraphs(text: str) -> str:
    blocks = [" ".join(block.split()) for block in text.replace("\r", "").split("\n\n")]
    return "".join(f"<p>{html.escape(block)}</p>" for block in blocks if block)


def _is_http(url: object) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in ("http", "https")


def _http_url(url: object, base: str) -> str | None:
    """An http(s) URL resolved against `base`; None for anything else (javascript:, data:)."""
    if not isinstance(url, str) or not url.strip():
        return None
    resolved = urljoin(base, plain_text(url))
    return resolved if _is_http(resolved) else None


def _fallback_guid(link: str | None, title: str) -> str:
    digest = hashlib.sha256(f"{link or ''}\n{title}".encode()).hexdigest()
    return f"sha256:{digest}"


def _categories(names: Iterable[str]) -> tuple[Category, ...]:
    found: dict[str, Category] = {}
    for name in map(plain_text, names):
        slug = category_slug(name)
        if slug:
            found.setdefault(slug, Category(name=name, slug=slug))
    return tuple(found.values())


def _unique(items: Iterable[FeedItem]) -> tuple[FeedItem, ...]:
    """Items with distinct GUIDs: a feed repeating one keeps its first."""
    seen: dict[str, FeedItem] = {}
    for item in items:
        seen.setdefault(item.item_id, item)
    return tuple(seen.values())
