"""Articles: Markdown files with YAML or TOML front matter, parsed into frozen values."""

from __future__ import annotations

import functools
import mimetypes
import posixpath
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import frontmatter
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from slugify import slugify
from yaml import SafeLoader

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # a PyYAML built without libyaml
    _SafeLoader = SafeLoader  # type: ignore[assignment,misc]

from publisher.content.markup import (
    content_path,
    cut_at_sentence,
    first_paragraph_text,
    plain_text,
    render_markdown,
    url_resolver,
)
from publisher.content.typography import typeset_text
from publisher.errors import ContentError
from publisher.i18n.quotes import QuotationMarks, quotation_marks
from publisher.urls import is_absolute_http_url

DURATION_PATTERN = re.compile(r"^(?:\d+|\d+:[0-5]\d|\d+:[0-5]\d:[0-5]\d)$")
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ARTICLE_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True, slots=True)
class Author:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Image:
    """A hero image; `length` and `media_type` are known for files shipped in the content folder."""

    url: str
    alt: str
    caption: str = ""
    credit: str = ""
    length: int | None = None
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class Audio:
    """A podcast episode: the audio file's URL, its duration in seconds, length and type."""

    url: str
    duration: int | None = None
    length: int | None = None
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Origin:
    """The upstream feed an article was gathered from: its source's name, title and URLs."""

    name: str
    title: str
    feed_url: str
    home_url: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """One parsed article. `source` is its path inside the content folder, in POSIX form."""

    source: str
    key: str | None
    slug: str
    url: str
    title: str
    date: datetime
    updated: datetime | None
    authors: tuple[Author, ...]
    summary: str
    body_html: str
    image: Image | None
    categories: tuple[Category, ...]
    tags: tuple[str, ...]
    draft: bool
    origin: Origin | None = None  # set for items of upstream feeds
    audio: Audio | None = None  # front matter `audio:`: a podcast episode
    related: tuple[str, ...] | None = None  # slugs from `related:`, chosen by hand


@dataclass(frozen=True, slots=True)
class MediaFile:
    length: int
    media_type: str


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """What parsing needs to know about the site."""

    url: str
    timezone: ZoneInfo
    article_url: str
    media_url: str
    language: str = "en"  # a BCP 47 tag: the quotation marks of the site's text

    @property
    def quotation_marks(self) -> QuotationMarks:
        """The marks straight quotes become in titles, summaries and bodies."""
        return quotation_marks(self.language)


MediaLookup = Callable[[str], MediaFile | None]


class _Person(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    email: str | None = None
    url: str | None = None


class _ImageMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    url: str = Field(min_length=1)
    alt: str | None = None
    caption: str = ""
    credit: str = ""


class _AudioMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    url: str = Field(min_length=1)
    duration: str | None = None  # "12:34", "1:02:03" or seconds
    length: Annotated[int, Field(ge=0)] | None = None  # bytes, for a URL
    type: str | None = None  # the media type, for a URL

    @field_validator("duration")
    @classmethod
    def _duration_shape(cls, value: str | None) -> str | None:
        if value is not None and not DURATION_PATTERN.match(value.strip()):
            raise ValueError(f"duration {value!r} must be seconds, MM:SS or H:MM:SS")
        return value


DateOrDateTime = datetime | date


class _FrontMatter(BaseModel):
    """The front-matter keys we read; unknown keys are left for other tools."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    title: str
    date: DateOrDateTime
    id: str | None = None
    slug: str | None = None
    url: str | None = None
    author: str | _Person | None = None
    authors: list[str | _Person] = []
    summary: str | None = None
    image: str | _ImageMatter | None = None
    audio: _AudioMatter | None = None
    categories: list[str] = []
    tags: list[str] = []
    draft: bool = False
    updated: DateOrDateTime | None = None
    related: list[str] | None = None

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not plain_text(value):
            raise ValueError("title is empty")
        return value

    @field_validator("categories", "tags", "related", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("audio", mode="before")
    @classmethod
    def _audio_from_url(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("slug")
    @classmethod
    def _slug_shape(cls, value: str | None) -> str | None:
        if value is not None and not SLUG_PATTERN.match(value):
            raise ValueError(f"slug {value!r} must be lowercase letters, digits and hyphens")
        return value

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None and not is_absolute_http_url(value):
            raise ValueError(f"url {value!r} must be an absolute http(s) URL")
        return value


class _TomlHandler(frontmatter.default_handlers.BaseHandler):
    """TOML front matter between `+++` lines, read with the standard library's tomllib."""

    # [ \t]* and not \s*: a greedy \s would swallow blank lines and shift every line number.
    FM_BOUNDARY = re.compile(r"^\+{3,}[ \t]*\r?$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)


class _FrontMatterLoader(_SafeLoader):
    """YAML's safe loader (on libyaml: 15 times the pure-Python one's speed), keeping dates
    as text so pydantic reports a bad one by its key."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
}

_HANDLERS = [
    frontmatter.default_handlers.YAMLHandler(
        fm_boundary=re.compile(r"^-{3,}[ \t]*\r?$", re.MULTILINE)
    ),
    _TomlHandler(),
]


def is_article_file(name: str) -> bool:
    """Whether a file name is an article (Markdown, not hidden)."""
    return name.endswith(ARTICLE_SUFFIXES) and not name.startswith((".", "_"))


def parse_article(source: str, raw: bytes, site: SiteSettings, media: MediaLookup) -> Article:
    """Parse one article file; raise ContentError naming `source` and the line at fault."""
    file = read_front_matter(source, raw)
    body = file.body
    matter = file.validated(_FrontMatter)
    fail = file.failer()
    published = _utc_or_fail(matter.date, site.timezone, "date", fail)
    slug = matter.slug or default_slug(source)
    if not slug:
        fail("slug", "cannot make a slug from the file name; set `slug`")
    url = matter.url or article_url(site, slug, published)
    resolve = url_resolver(site.url, site.media_url, source, url)
    marks = site.quotation_marks
    summary = typeset_text(plain_text(matter.summary or ""), marks) or cut_at_sentence(
        typeset_text(first_paragraph_text(body), marks)
    )
    return Article(
        source=source,
        key=plain_text(matter.id) if matter.id else None,
        slug=slug,
        url=url,
        title=plain_text(matter.title),
        date=published,
        updated=_utc_or_fail(matter.updated, site.timezone, "updated", fail)
        if matter.updated
        else None,
        authors=_authors(matter),
        summary=summary,
        body_html=render_markdown(body, resolve, marks),
        image=_image(source, matter, resolve, media, fail) if matter.image else None,
        categories=_categories(matter.categories, fail),
        tags=tuple(dict.fromkeys(tag for tag in map(plain_text, matter.tags) if tag)),
        draft=matter.draft,
        audio=_audio(source, matter.audio, resolve, media, fail) if matter.audio else None,
        related=_related(matter.related, fail) if matter.related is not None else None,
    )


def default_slug(source: str) -> str:
    """The slug of an article without one: its file name, or its folder's for `index.md`."""
    stem = posixpath.splitext(posixpath.basename(source))[0]
    if stem == "index" and "/" in source:
        stem = posixpath.basename(posixpath.dirname(source))
    return str(slugify(stem))


@functools.lru_cache(maxsize=65536)  # a pure function, asked again for every page that lists
def category_slug(name: str) -> str:
    """A category's slug: ASCII lowercase and hyphens, safe as a folder name."""
    return str(slugify(name))


def article_url(site: SiteSettings, slug: str, published: datetime) -> str:
    """The permanent URL of an article served by this site."""
    local = published.astimezone(site.timezone)
    path = site.article_url.format(
        slug=slug, year=f"{local.year:04d}", month=f"{local.month:02d}", day=f"{local.day:02d}"
    )
    return urljoin(site.url, path)


_EARLIEST_SHOWN = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
_LATEST_SHOWN = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)


def to_utc(value: DateOrDateTime, zone: ZoneInfo) -> datetime:
    """A front-matter date as an aware UTC datetime; naive values are in the site's zone."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _utc_or_fail(
    value: DateOrDateTime, zone: ZoneInfo, key: str, fail: Callable[[str, str], NoReturn]
) -> datetime:
    try:
        moment = to_utc(value, zone)
    except OverflowError:
        fail(key, f"{key}: {value} is out of range")
    # Shown in any zone (the site's, a digest's), it must still be a date Python can hold.
    if not _EARLIEST_SHOWN <= moment <= _LATEST_SHOWN:
        fail(key, f"{key}: {value} is out of range")
    return moment


def _decode(source: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ContentError(source, line, "not UTF-8 text") from None


def _split_front_matter(source: str, text: str) -> tuple[str, str]:
    handler = frontmatter.detect_format(text, _HANDLERS)
    if handler is None:
        raise ContentError(source, 1, "no front matter (start the file with --- or +++)")
    try:
        front_text, body = handler.split(text)
    except ValueError:
        raise ContentError(source, 1, "front matter is not closed") from None
    return str(front_text), str(body)


def _load_front_matter(source: str, front_text: str, text: str) -> Any:
    # `front_text` starts with the newline ending the opening ---/+++ line, so its line
    # numbers (0-based for YAML, 1-based for TOML) line up with the file's.
    if text.startswith("+++"):
        try:
            return tomllib.loads(front_text)
        except tomllib.TOMLDecodeError as error:
            line, message = _toml_error_position(str(error))
            raise ContentError(source, line, f"bad TOML front matter: {message}") from None
    try:
        return yaml.load(front_text, Loader=_FrontMatterLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(error, "problem", None) or str(error)
        raise ContentError(source, line, f"bad YAML front matter: {problem}") from None


def _toml_error_position(message: str) -> tuple[int, str]:
    match = re.search(r"\(at line (\d+), column \d+\)", message)
    if match is None:
        return 1, message
    return int(match.group(1)), message[: match.start()].strip()


ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class FrontMatterFile:
    """A content file (article or author profile) split into its front matter and body."""

    source: str
    front_text: str
    body: str
    data: Any

    def validated(self, model: type[ModelT]) -> ModelT:
        """The front matter as `model`; ContentError naming the line of the key at fault."""
        if not isinstance(self.data, dict):
            raise ContentError(self.source, 2, "front matter must be a mapping of keys to values")
        try:
            return model.model_validate(self.data)
        except ValidationError as error:
            problem = error.errors()[0]
            key = str(problem["loc"][0]) if problem["loc"] else ""
            if problem["type"] == "missing":
                raise ContentError(self.source, 1, f"missing required `{key}`") from None
            message = problem["msg"].removeprefix("Value error, ")
            line = _line_of_key(self.front_text, key)
            raise ContentError(self.source, line, f"{key}: {message}") from None

    def failer(self) -> Callable[[str, str], NoReturn]:
        """A function raising ContentError at the line of a front matter key."""

        def fail(key: str, message: str) -> NoReturn:
            raise ContentError(self.source, _line_of_key(self.front_text, key), message)

        return fail


def read_front_matter(source: str, raw: bytes) -> FrontMatterFile:
    """Decode a content file and split it; ContentError for bad bytes or front matter."""
    text = _decode(source, raw)
    front_text, body = _split_front_matter(source, text)
    return FrontMatterFile(source, front_text, body, _load_front_matter(source, front_text, text))


def _line_of_key(front_text: str, key: str) -> int:
    """The line of a top-level key (or TOML table) in the front matter; 1 when it is absent."""
    plain = re.compile(rf"^[\"']?{re.escape(key)}[\"']?\s*[:=]")
    table = re.compile(rf"^\[\s*[\"']?{re.escape(key)}[\"']?\s*\]")
    in_toml_table = False
    for number, line in enumerate(front_text.splitlines(), start=1):
        if table.match(line):
            return number
        in_toml_table = in_toml_table or line.startswith("[")
        if not in_toml_table and plain.match(line):
            return number
    return 1


def _authors(matter: _FrontMatter) -> tuple[Author, ...]:
    people = matter.authors or ([matter.author] if matter.author else [])
    authors = []
    for person in people:
        if isinstance(person, str):
            authors.append(Author(name=plain_text(person)))
        else:
            authors.append(Author(name=plain_text(person.name), email=person.email, url=person.url))
    return tuple(author for author in authors if author.name)


def _image(
    source: str,
    matter: _FrontMatter,
    resolve: Callable[[str], str],
    media: MediaLookup,
    fail: Callable[[str, str], NoReturn],
) -> Image:
    image = matter.image
    given = image if isinstance(image, _ImageMatter) else _ImageMatter(url=str(image))
    caption, credit = plain_text(given.caption), plain_text(given.credit)
    alt = plain_text(given.alt if given.alt is not None else caption or matter.title)
    found = content_file(source, given.url, media, fail, "image")
    if found is None:
        guessed, _ = mimetypes.guess_type(urlsplit(given.url).path)
        return Image(resolve(given.url), alt, caption, credit, None, guessed)
    return Image(resolve(given.url), alt, caption, credit, found.length, found.media_type)


def content_file(
    source: str, url: str, media: MediaLookup, fail: Callable[[str, str], NoReturn], key: str
) -> MediaFile | None:
    """The content folder's file that `url` (relative to `source`) names; None for a URL
    elsewhere. A file that is not there fails, naming the front matter `key`."""
    local = content_path(source, url)
    if local is None:
        return None
    found = media(local)
    if found is None:
        fail(key, f"{key} file {local!r} not found in the content folder")
    return found


def _audio(
    source: str,
    audio: _AudioMatter,
    resolve: Callable[[str], str],
    media: MediaLookup,
    fail: Callable[[str, str], NoReturn],
) -> Audio:
    duration = _seconds(audio.duration) if audio.duration else None
    found = content_file(source, audio.url, media, fail, "audio")
    if found is None:
        guessed, _ = mimetypes.guess_type(urlsplit(audio.url).path)
        return Audio(resolve(audio.url), duration, audio.length, audio.type or guessed)
    return Audio(resolve(audio.url), duration, found.length, found.media_type)


def _seconds(duration: str) -> int:
    """`"12:34"`, `"1:02:03"` or `"754"` as a number of seconds."""
    total = 0
    for part in duration.strip().split(":"):
        total = total * 60 + int(part)
    return total


def _related(slugs: list[str], fail: Callable[[str, str], NoReturn]) -> tuple[str, ...]:
    for slug in slugs:
        if not SLUG_PATTERN.match(slug):
            fail("related", f"related: {slug!r} is not an article slug")
    return tuple(dict.fromkeys(slugs))


def _categories(names: list[str], fail: Callable[[str, str], NoReturn]) -> tuple[Category, ...]:
    categories: dict[str, Category] = {}
    for name in map(plain_text, names):
        if not name:
            continue
        slug = category_slug(name)
        if not slug:
            fail("categories", f"category {name!r} has no letters or digits to make a slug from")
        categories.setdefault(slug, Category(name=name, slug=slug))
    return tuple(categories.values())


@dataclass(frozen=True, slots=True)
class PublishedArticle:
    """A public article as the store knows it: stable GUID, publication sequence, last update."""

    guid: str
    sequence: int
    updated: datetime
    article: Article


def article_guid(article: Article, site_url: str) -> str:
    """The GUID given to an article when first seen: its `id`, or a tag URI from date and slug.

    The store keeps it from then on, so edits (even of date or slug) never change it.
    """
    if article.key and urlsplit(article.key).scheme:
        return article.key
    host = urlsplit(site_url).hostname or "localhost"
    day = article.date.strftime("%Y-%m-%d")
    return f"tag:{host},{day}:{article.key or article.slug}"
