"""Files served as they are: feeds, archived editions, the content folder's media, the stylesheet.

Every one carries an ETag and Last-Modified and answers a conditional GET (If-None-Match, else
If-Modified-Since) with 304 and no body. Feeds and editions are gzipped when the client accepts
gzip; the gzipped copy has its own ETag, and either ETag revalidates, since each names bytes the
client already holds. Only regular files inside their folder are served: no hidden names, no
`..`, no symbolic link leading out, all judged on the file a name leads to after its links;
from the content folder only images, audio and video, never an article's Markdown.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import threading
from collections import OrderedDict
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path, PurePosixPath

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from publisher.content.articles import ARTICLE_SUFFIXES
from publisher.site.feeds import (
    feed_media_type,
    is_current_feed,
    websub_link_header,
)
from publisher.urls import feed_file_url
from publisher.web.security import ARCHIVE_POLICY, MEDIA_POLICY
from publisher.web.site import WebSite

ARCHIVE_TYPE = "text/html; charset=utf-8"
MEDIA_KINDS = ("image/", "audio/", "video/")
# Pages and feeds: a CDN keeps them five minutes and may serve a stale copy a day while it asks
# again, so a story that spreads reaches the origin once per edge every five minutes.
PUBLIC_CACHING = "public, max-age=300, stale-while-revalidate=86400"
REVALIDATE = PUBLIC_CACHING
MEDIA_CACHING = "public, max-age=3600"
GZIP_CACHE_SIZE = 64


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One state of a file, as conditional requests name it."""

    size: int
    modified_ns: int

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.size}:{self.modified_ns}".encode()).hexdigest()[:24]
        return f'"{digest}"'

    @property
    def gzip_etag(self) -> str:
        return gzip_etag(self.etag)

    @property
    def last_modified(self) -> datetime:
        return datetime.fromtimestamp(self.modified_ns // 1_000_000_000, UTC)

    @classmethod
    def of(cls, stat: os.stat_result) -> FileVersion:
        return cls(stat.st_size, stat.st_mtime_ns)


def find_file(root: Path, relative: str) -> Path | None:
    """The regular file `relative` names inside `root`, resolved; None for anything else.

    Judged on where the name leads, after every symbolic link: the target must lie inside
    `root` and no folder or file on its way from `root` may be hidden. Callers judge the
    target's name (its suffix, its media type) too, never the name asked for.
    """
    parts = PurePosixPath(relative).parts
    if (
        not parts
        or relative.startswith("/")
        or "\\" in relative
        or "\0" in relative
        or any(part.startswith(".") for part in parts)
    ):
        return None
    try:
        base = root.resolve()
        path = (base / relative).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
    except (OSError, RuntimeError):  # a name too long, a loop of links, an unreadable folder
        return None
    if any(part.startswith(".") for part in path.relative_to(base).parts):
        return None
    return path


def etag_matches(header: str, etags: Collection[str]) -> bool:
    """Whether an If-None-Match header names one of `etags` (weak comparison) or is `*`."""
    strong = {etag.removeprefix("W/") for etag in etags}
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") in strong:
            return True
    return False


def is_not_modified(headers: Headers, etags: Collection[str], last_modified: datetime) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110: If-None-Match wins)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        return etag_matches(if_none_match, etags)
    if_modified_since = headers.get("if-modified-since")
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header accepts gzip (by name, or by `*`, with q above 0)."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        coding, _, parameters = part.partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        weights[coding.strip().lower()] = weight
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0


def gzip_etag(etag: str) -> str:
    """The ETag of the gzipped copy of the bytes `etag` names."""
    return etag[:-1] + '-gzip"'


class GzipCache:
    """Gzipped copies of recently served bytes, by a key that names the bytes (a file's path
    and version, an ETag); past `size` copies, the least recently served is dropped."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._copies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def gzipped(self, key: Hashable, data: bytes) -> bytes:
        """`data` gzipped, or the copy kept for `key`: the same bytes compress only once."""
        with self._lock:
            if key in self._copies:
                self._copies.move_to_end(key)
                return self._copies[key]
        # mtime=0: the same bytes always compress to the same bytes, as their ETag promises.
        compressed = gzip.compress(data, compresslevel=6, mtime=0)
        with self._lock:
            self._copies[key] = compressed
            while len(self._copies) > self.size:
                self._copies.popitem(last=False)
        return compressed


_GZIP_CACHE = GzipCache(GZIP_CACHE_SIZE)


def _validators(version: FileVersion, etag: str, cache_control: str) -> dict[str, str]:
    return {
        "etag": etag,
        "last-modified": format_datetime(version.last_modified, usegmt=True),
        "cache-control": cache_control,
    }


def text_file_response(
    request: Request,
    path: Path,
    media_type: str,
    policy: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """A feed or an edition: conditional, and gzipped when the client accepts it."""
    try:
        with path.open("rb") as handle:
            version = FileVersion.of(os.fstat(handle.fileno()))
            data = handle.read()
    except OSError:
        raise HTTPException(404) from None
    compress = accepts_gzip(request.headers.get("accept-encoding", ""))
    headers = _validators(version, version.gzip_etag if compress else version.etag, REVALIDATE) | {
        "vary": "Accept-Encoding"
    }
    if policy:
        headers["content-security-policy"] = policy
    headers |= extra_headers or {}
    if is_not_modified(request.headers, (version.etag, version.gzip_etag), version.last_modified):
        return Response(status_code=304, headers=headers)
    if compress:
        headers["content-encoding"] = "gzip"
        data = _GZIP_CACHE.gzipped((str(path), version), data)
    return Response(data, media_type=media_type, headers=headers)


def media_file_response(request: Request, path: Path, media_type: str) -> Response:
    """An image, audio or video file: conditional, streamed, in a sandbox of its own."""
    try:
        stat = path.stat()
    except OSError:
        raise HTTPException(404) from None
    version = FileVersion.of(stat)
    headers = _validators(version, version.etag, MEDIA_CACHING)
    headers["content-security-policy"] = MEDIA_POLICY
    if is_not_modified(request.headers, (version.etag,), version.last_modified):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers, stat_result=stat)


class FileRoutes:
    """The routes that serve files: feeds, archive, media and the pages' stylesheet."""

    def __init__(self, site: WebSite) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        paths = self.site.paths
        return [
            Route(paths.stylesheet, self.stylesheet, methods=["GET"]),
            Route(f"{paths.feeds}{{path:path}}", self.feed, methods=["GET"]),
            Route(f"{paths.archive}{{path:path}}", self.archive, methods=["GET"]),
            Route(f"{paths.media}{{path:path}}", self.media, methods=["GET"]),
        ]

    def feed(self, request: Request) -> Response:
        relative = str(request.path_params["path"])
        config = self.site.config
        path = find_file(config.feeds_dir, relative)
        # Judged on the file found, as find_file asks: its path inside the feeds folder.
        found = path.relative_to(config.feeds_dir.resolve()).as_posix() if path else ""
        media_type = feed_media_type(found) if path else None
        if path is None or media_type is None:
            raise HTTPException(404)
        extra = {}
        if config.feeds.websub_hub and is_current_feed(found):
            self_url = feed_file_url(config, found)
            extra["link"] = websub_link_header(config.feeds.websub_hub, self_url)
        return text_file_response(request, path, f"{media_type}; charset=utf-8", None, extra)

    def archive(self, request: Request) -> Response:
        relative = str(request.path_params["path"])
        path = find_file(self.site.config.archive_dir, relative)
        if path is None or path.suffix != ".html":
            raise HTTPException(404)
        return text_file_response(request, path, ARCHIVE_TYPE, ARCHIVE_POLICY)

    def media(self, request: Request) -> Response:
        relative = str(request.path_params["path"])
        path = find_file(self.site.config.content_dir, relative)
        if path is None or path.name.lower().endswith(ARTICLE_SUFFIXES):
            raise HTTPException(404)
        media_type, _ = mimetypes.guess_type(path.name)
        if media_type is None or not media_type.startswith(MEDIA_KINDS):
            raise HTTPException(404)
        return media_file_response(request, path, media_type)

    def stylesheet(self, request: Request) -> Response:
        data = self.site.stylesheet()
        etag = '"' + hashlib.sha256(data).hexdigest()[:24] + '"'
        headers = {"etag": etag, "cache-control": REVALIDATE}
        if etag_matches(request.headers.get("if-none-match", ""), (etag,)):
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="text/css; charset=utf-8", headers=headers)
