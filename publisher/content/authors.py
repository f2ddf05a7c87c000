"""Author profiles: `authors/<slug>.md` in the content folder, and the authors articles name.

A profile's front matter gives `name`, `avatar` (a file beside it or a URL), `url`, `email`
and `links` (a mapping of name to URL, or a list of `{name, url}`); its Markdown body is the
bio. An article's author matches a profile by the profile's slug (`author: mara-quinn`) or
name (`author: Mara Quinn`); an author without a profile still has a page, under the slug
of their name.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from slugify import slugify

from publisher.content.articles import (
    Author,
    MediaLookup,
    PublishedArticle,
    SiteSettings,
    content_file,
    read_front_matter,
)
from publisher.content.markup import content_path, plain_text, render_markdown, url_resolver
from publisher.urls import author_page_url, is_absolute_http_url

AUTHORS_FOLDER = "authors"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class ProfileLink:
    """One of an author's links elsewhere: a name ("Mastodon") and an http(s) URL."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class AuthorProfile:
    """One parsed profile; `bio_html` is sanitized, `avatar` an absolute URL."""

    source: str
    slug: str
    name: str
    bio_html: str
    avatar: str | None = None
    url: str | None = None
    email: str | None = None
    links: tuple[ProfileLink, ...] = ()


@dataclass(frozen=True, slots=True)
class Byline:
    """An author as pages and feeds show them: name, slug, page URL, profile if any."""

    name: str
    slug: str
    page_url: str
    profile: AuthorProfile | None = None


@dataclass(frozen=True, slots=True)
class AuthorGroup:
    """An author and their public articles, newest first: one page and one set of feeds."""

    byline: Byline
    entries: tuple[PublishedArticle, ...]


def _http_url(value: str | None) -> str | None:
    if value is not None and not is_absolute_http_url(value):
        raise ValueError(f"{value!r} must be an absolute http(s) URL")
    return value


class _LinkMatter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    url: str

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        _http_url(value)
        return value


class _ProfileMatter(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    name: str
    avatar: str | None = None
    url: str | None = None
    email: str | None = None
    links: dict[str, str] | list[_LinkMatter] = []

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not plain_text(value):
            raise ValueError("name is empty")
        return value

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("links")
    @classmethod
    def _link_urls(cls, value: dict[str, str] | list[_LinkMatter]) -> Any:
        if isinstance(value, dict):
            for url in value.values():
                _http_url(url)
        return value


def is_profile_source(source: str) -> bool:
    """Whether a content-folder path (POSIX) lies in `authors/`: profiles there, never articles."""
    return source.startswith(f"{AUTHORS_FOLDER}/")


@functools.lru_cache(maxsize=65536)  # a pure function, asked again for every byline
def author_slug(name: str) -> str:
    """The slug of an author's name: ASCII lowercase and hyphens, safe as a folder name."""
    return str(slugify(name))


def parse_profile(source: str, raw: bytes, site: SiteSettings, media: MediaLookup) -> AuthorProfile:
    """Parse one profile file; raise ContentError naming `source` and the line at fault."""
    file = read_front_matter(source, raw)
    matter = file.validated(_ProfileMatter)
    fail = file.failer()
    slug = author_slug(posixpath.splitext(posixpath.basename(source))[0])
    if not slug:
        fail("name", "cannot make a slug from the file name")
    page_url = author_page_url(site.url, slug)
    resolve = url_resolver(site.url, site.media_url, source, page_url)
    return AuthorProfile(
        source=source,
        slug=slug,
        name=plain_text(matter.name),
        bio_html=render_markdown(file.body, resolve, site.quotation_marks),
        avatar=_avatar(source, matter.avatar, resolve, media, fail) if matter.avatar else None,
        url=matter.url,
        email=matter.email,
        links=_links(matter.links),
    )


def _avatar(
    source: str,
    avatar: str,
    resolve: Callable[[str], str],
    media: MediaLookup,
    fail: Callable[[str, str], NoReturn],
) -> str:
    found = content_file(source, avatar, media, fail, "avatar")
    if found is None:
        if urlsplit(avatar).scheme not in ("http", "https"):
            fail("avatar", f"avatar {avatar!r} must be a file in the content folder or a URL")
        return avatar
    if not found.media_type.startswith("image/"):
        fail("avatar", f"avatar file {content_path(source, avatar)!r} is not an image")
    return resolve(avatar)


def _links(given: dict[str, str] | list[_LinkMatter]) -> tuple[ProfileLink, ...]:
    pairs = given.items() if isinstance(given, dict) else ((link.name, link.url) for link in given)
    return tuple(ProfileLink(_link_name(name), url) for name, url in pairs if plain_text(name))


def _link_name(name: str) -> str:
    """`mastodon` reads as "Mastodon"; a name with capitals is kept as written."""
    text = plain_text(name)
    return text[:1].upper() + text[1:] if text.islower() else text


class AuthorDirectory:
    """The profiles of a site, to turn the authors articles name into bylines."""

    def __init__(self, profiles: Iterable[AuthorProfile], site_url: str) -> None:
        self.site_url = site_url
        self.profiles = sorted(profiles, key=lambda profile: profile.slug)
        self._by_slug = {profile.slug: profile for profile in self.profiles}
        self._by_name: dict[str, AuthorProfile] = {}
        for profile in self.profiles:
            self._by_name.setdefault(profile.name.casefold(), profile)

    def profile_for(self, author: Author) -> AuthorProfile | None:
        """The profile an author's name names: as a slug, by the slug of the name, by name."""
        name = author.name.strip()
        return (
            self._by_slug.get(name)
            or self._by_slug.get(author_slug(name))
            or self._by_name.get(name.casefold())
        )

    def byline(self, author: Author) -> Byline | None:
        """How `author` is shown and linked; None for a name with nothing to make a slug of."""
        profile = self.profile_for(author)
        if profile is not None:
            page = author_page_url(self.site_url, profile.slug)
            return Byline(profile.name, profile.slug, page, profile)
        slug = author_slug(author.name)
        return Byline(author.name, slug, author_page_url(self.site_url, slug)) if slug else None

    def bylines(self, authors: Iterable[Author]) -> list[Byline]:
        """The bylines of an article's authors, in order, each author once; a name with nothing
        to make a slug of is shown all the same, without a page (`page_url` empty)."""
        found: dict[str, Byline] = {}
        for author in authors:
            byline = self.byline(author) or Byline(author.name, "", "")
            found.setdefault(byline.slug or f"name:{byline.name}", byline)
        return list(found.values())

    def linked(self, published: PublishedArticle) -> PublishedArticle:
        """The article with its authors' URLs pointing at their pages (items of upstream feeds
        are left as their source wrote them)."""
        article = published.article
        if article.origin is not None or not article.authors:
            return published
        authors = []
        for author in article.authors:
            byline = self.byline(author)
            if byline is None:
                authors.append(author)
                continue
            email = author.email or (byline.profile.email if byline.profile else None)
            authors.append(Author(byline.name, email, byline.page_url))
        return replace(published, article=replace(article, authors=tuple(authors)))

    def groups(self, articles: Sequence[PublishedArticle]) -> list[AuthorGroup]:
        """Every author with a profile or a public article of this site, by slug."""
        bylines = {
            profile.slug: Byline(
                profile.name, profile.slug, author_page_url(self.site_url, profile.slug), profile
            )
            for profile in self.profiles
        }
        members: dict[str, list[PublishedArticle]] = {slug: [] for slug in bylines}
        newest_first = sorted(articles, key=lambda a: (-a.article.date.timestamp(), a.guid))
        for published in newest_first:
            if published.article.origin is not None:
                continue
            for byline in self.bylines(published.article.authors):
                if not byline.slug:
                    continue
                bylines.setdefault(byline.slug, byline)
                members.setdefault(byline.slug, []).append(published)
        return [AuthorGroup(bylines[slug], tuple(members[slug])) for slug in sorted(bylines)]

    def group(self, slug: str, articles: Sequence[PublishedArticle]) -> AuthorGroup | None:
        """One author's group, or None when no profile or article names `slug`."""
        return next((group for group in self.groups(articles) if group.byline.slug == slug), None)
