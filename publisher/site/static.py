"""The static site: every public page, feed, image and stylesheet, written under `[site] output`.

The pages are the ones `publisher serve` answers with, rendered by the same code (the caller
passes a `fetch` that asks the web app in-process): starting from the home page, the feeds,
the archive, `robots.txt`, `sitemap.xml` and the favicon, every same-site link and image found
is fetched in turn. A page is written only when its bytes change, so an unchanged page keeps
its mtime and a static host or CDN sees nothing new; a file of an earlier build that no page
links to any more is removed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import lxml.etree
import lxml.html
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher import __version__
from publisher.config import Config
from publisher.files import write_atomically
from publisher.site.build import recorded_inputs_fingerprint
from publisher.store.schema import editions
from publisher.templates import BUNDLED_TEMPLATES

# Raised when pages change for a reason no input shows (a template or code change in a release).
STATIC_RENDERING_VERSION = "1"

# Pages a static host cannot stand in for: the dashboard, the API, tracked links, forms' posts.
SERVED_ONLY = ("admin/", "api/", "r/", "o/", "subscribe", "confirm/", "unsubscribe/")
_LINK_ATTRIBUTES = (("a", "href"), ("link", "href"), ("img", "src"), ("audio", "src"))
_MORE_SOURCES = (("source", "src"), ("video", "src"), ("video", "poster"))
_SITEMAP_LOC = re.compile(rb"<loc>([^<]+)</loc>")
_ROBOTS_SITEMAP = re.compile(rb"(?im)^sitemap:\s*(\S+)")


@dataclass(frozen=True, slots=True)
class Fetched:
    """The web app's answer to a GET: status, media type and body."""

    status: int
    media_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the static site: its URL path and bytes."""

    path: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StaticReport:
    """What a static build did: files written, left as they were, and removed."""

    output: Path | None  # None: `[site] static = false`
    written: int
    unchanged: int
    removed: int

    def summary(self) -> str:
        """One line for `publisher build`."""
        if self.output is None:
            return "site: no static site ([site] static = false)"
        return (
            f"site: {self.written} files written, {self.unchanged} unchanged, "
            f"{self.removed} removed, in {self.output}"
        )


Fetch = Callable[[str], Fetched]


def start_paths(config: Config) -> list[str]:
    """Where the crawl begins: what a site has even when no page links to it."""
    found = ["/", "/robots.txt", "/sitemap.xml", "/favicon.ico"]
    for url in (config.feeds_url, config.archive_url):
        path = same_site_path(config.site.url, url)
        if path is not None:
            found.append(path)
    return found


def public_files(config: Config, fetch: Fetch) -> Iterator[StaticFile]:
    """Every public file of the site, each fetched once, in the order its links were found."""
    site_url = config.site.url
    queue = deque(start_paths(config))
    seen = set(queue)
    while queue:
        path = queue.popleft()
        answer = fetch(path)
        if answer.status != 200:
            continue
        yield StaticFile(path, answer.body)
        for link in links_in(answer, urljoin(site_url, path)):
            found = same_site_path(site_url, link)
            if found is not None and found not in seen and not _served_only(found):
                seen.add(found)
                queue.append(found)


def same_site_path(site_url: str, url: str) -> str | None:
    """The path of `url` if it is a page of the site (no query), else None."""
    site, parts = urlsplit(site_url), urlsplit(url)
    if (parts.scheme, parts.netloc) != (site.scheme, site.netloc) or parts.query:
        return None
    return parts.path or "/"


def _served_only(path: str) -> bool:
    return path.lstrip("/").startswith(SERVED_ONLY)


def links_in(answer: Fetched, page_url: str) -> list[str]:
    """The absolute URLs a page, sitemap or robots.txt links to."""
    if answer.media_type == "text/html":
        return _html_links(answer.body, page_url)
    if page_url.endswith("/sitemap.xml"):
        return [unquote(m.decode("utf-8")).strip() for m in _SITEMAP_LOC.findall(answer.body)]
    if page_url.endswith("/robots.txt"):
        return [m.decode("utf-8") for m in _ROBOTS_SITEMAP.findall(answer.body)]
    return []


def _html_links(body: bytes, page_url: str) -> list[str]:
    try:
        document = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return []
    found: list[str] = []
    for tag, attribute in (*_LINK_ATTRIBUTES, *_MORE_SOURCES):
        for value in document.xpath(f"//{tag}/@{attribute}"):
            found.append(urljoin(page_url, str(value).strip()))
    for srcset in document.xpath("//img/@srcset | //source/@srcset"):
        for candidate in str(srcset).split(","):
            if candidate.strip():
                found.append(urljoin(page_url, candidate.split()[0]))
    return found


def file_path(path: str) -> PurePosixPath:
    """Where the file for a URL path goes in the output folder: `a/b/` is `a/b/index.html`."""
    relative = unquote(path).lstrip("/")
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    parts = PurePosixPath(relative).parts
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{path!r} cannot be a file of the static site")
    return PurePosixPath(*parts)


def write_static_site(output: Path, files: Iterable[StaticFile]) -> StaticReport:
    """Write `files` under `output` (only those whose bytes changed); remove every other file."""
    written = unchanged = 0
    kept: set[Path] = set()
    for static in files:
        target = output.joinpath(*file_path(static.path).parts)
        kept.add(target)
        if write_atomically(target, static.body):
            written += 1
        else:
            unchanged += 1
    removed = _remove_all_but(output, kept)
    return StaticReport(output, written, unchanged, removed)


def _remove_all_but(output: Path, kept: set[Path]) -> int:
    removed = 0
    for folder, folders, names in os.walk(output, topdown=False):
        for name in names:
            path = Path(folder, name)
            if path not in kept:
                path.unlink()
                removed += 1
        for name in folders:
            with suppress(OSError):
                Path(folder, name).rmdir()  # only when empty
    return removed


def static_inputs_fingerprint(connection: Connection, config: Config) -> str | None:
    """One fingerprint of all a public page shows: the feeds' inputs as the last build recorded
    them (articles, profiles, config), the editions, the templates, the content's media files
    and the site's catalogs. None before the first build: then there is nothing to compare."""
    feeds = recorded_inputs_fingerprint(connection)
    if feeds is None:
        return None
    shown_editions = connection.execute(
        sa.select(sa.func.count(), sa.func.max(editions.c.id), sa.func.max(editions.c.created_at))
    ).one()
    folders = [Path(str(BUNDLED_TEMPLATES)), config.content_dir, config.locale_dir]
    if config.templates_dir is not None:
        folders.append(config.templates_dir)
    parts = [
        __version__,
        STATIC_RENDERING_VERSION,
        feeds,
        tuple(shown_editions),
        [_file_states(folder, skip_suffix=".md") for folder in folders if folder is not None],
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def output_fingerprint(output: Path) -> tuple[str, int]:
    """A fingerprint of the files under `output` (path, size, mtime) and how many there are."""
    states = _file_states(output)
    return hashlib.sha256(repr(states).encode()).hexdigest(), len(states)


def _file_states(folder: Path, skip_suffix: str | None = None) -> list[tuple[str, int, int]]:
    """Each file below `folder` (not hidden): its path, size and mtime; Markdown files
    (`skip_suffix`) are left to the articles' own revisions."""
    states = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or (skip_suffix and name.endswith(skip_suffix)):
                continue
            with suppress(OSError):
                stat = os.stat(os.path.join(root, name))
                states.append((os.path.join(root, name), stat.st_size, stat.st_mtime_ns))
    return states
