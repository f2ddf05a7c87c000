"""The archive: `/archive/` lists every edition by digest, and each edition's web copy is served
with what a shared link needs (Open Graph and Twitter tags, a canonical link) and a line that
invites the reader to subscribe.

The archive copy on disk stays the email as it was sent (no personal data, written once); the
tags and the subscribe line are added as it is served, from the `web/archive-head.html.j2` and
`web/archive-banner.html.j2` templates, so editions archived before this still get them. The
answer's ETag names the bytes sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.config import Config
from publisher.content.articles import Article
from publisher.i18n.templating import environment_translations
from publisher.store.articles import public_articles_with_guids
from publisher.store.editions import EditionSummary, edition_summaries, edition_summary
from publisher.urls import archive_url
from publisher.web.conditional import answer_conditionally, bytes_etag
from publisher.web.files import (
    ARCHIVE_TYPE,
    REVALIDATE,
    FileVersion,
    GzipCache,
    accepts_gzip,
    etag_matches,
    find_file,
    gzip_etag,
)
from publisher.web.navigation import page_number
from publisher.web.security import ARCHIVE_POLICY
from publisher.web.site import PageError, WebSite, http_url

_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_DIGEST_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
GZIP_COPIES = 32


def dressed_edition(html: str, head: str, banner: str) -> str:
    """An archived edition with `head` added at the end of its head and `banner` first in its
    body; a document without them gets what fits (a copy that is no HTML page stays as it is)."""
    head_end = _HEAD_END.search(html)
    if head_end is not None:
        html = html[: head_end.start()] + head + html[head_end.start() :]
    body_start = _BODY_START.search(html)
    if body_start is not None:
        html = html[: body_start.end()] + banner + html[body_start.end() :]
    return html


@dataclass(frozen=True, slots=True)
class ArchivedEdition:
    """What the archive page shows of one edition."""

    number: int
    subject: str
    date: datetime
    url: str


@dataclass(frozen=True, slots=True)
class DigestArchive:
    """One digest's editions, newest first."""

    name: str
    title: str
    description: str
    editions: tuple[ArchivedEdition, ...]


def digest_archives(config: Config, summaries: list[EditionSummary]) -> list[DigestArchive]:
    """Editions grouped by digest: configured digests in config order, then any left over."""
    grouped: dict[str, list[ArchivedEdition]] = {}
    for summary in summaries:
        grouped.setdefault(summary.digest, []).append(
            ArchivedEdition(
                summary.number,
                summary.subject,
                summary.created_at,
                archive_url(config, summary.digest, summary.number),
            )
        )
    archives = []
    for digest in config.digests:
        found = grouped.pop(digest.name, [])
        archives.append(DigestArchive(digest.name, digest.title, digest.description, tuple(found)))
    for name in sorted(grouped):
        archives.append(DigestArchive(name, name, "", tuple(grouped[name])))
    return [archive for archive in archives if archive.editions]


def edition_image(summary: EditionSummary | None, articles: dict[str, Article]) -> str:
    """The first absolute http(s) image of the edition's articles, or ""."""
    for guid in summary.article_guids if summary else ():
        article = articles.get(guid)
        if article is not None and article.image is not None and http_url(article.image.url):
            return article.image.url
    return ""


@dataclass(frozen=True, slots=True)
class ArchivedCopy:
    """An edition's copy as read from the archive folder, and the edition it is."""

    digest: str
    number: int
    html: str
    version: FileVersion


def archived_copy(config: Config, digest: str, number: int) -> ArchivedCopy | None:
    """The archive copy of edition `number` of `digest`, or None when there is none."""
    path = find_file(config.archive_dir, f"{digest}/{number}.html")
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            version = FileVersion.of(path.stat())
            html = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    # A name that links to another edition's copy is that edition: describe the target.
    target = path.relative_to(config.archive_dir.resolve()).parts
    if len(target) == 2 and (found := page_number(target[1].removesuffix(".html"))):
        digest, number = target[0], found
    return ArchivedCopy(digest, number, html, version)


def dressed_copy(
    site: WebSite, copy: ArchivedCopy, summary: EditionSummary | None, image: str
) -> str:
    """The archive copy as its page shows it: with the head's tags and the subscribe banner."""
    config = site.config
    digest, number = copy.digest, copy.number
    found = next((d for d in config.digests if d.name == digest), None)
    language = config.digest_language(found) if found else config.site.language
    environment = site.environment_in(language)
    untitled = environment_translations(environment).gettext("%(digest)s No. %(number)d")
    context: dict[str, Any] = {
        **site.base_context,
        "digest_title": found.title if found else digest,
        "digest_description": found.description if found else "",
        "number": number,
        "subject": summary.subject if summary else untitled % {"digest": digest, "number": number},
        "date": summary.created_at if summary else None,
        "page_url": archive_url(config, digest, number),
        "image_url": image or (http_url(config.logo.url) if config.logo else ""),
        "subscribe_open": bool(found) and config.mail is not None,
    }
    head = environment.get_template("web/archive-head.html.j2").render(context)
    banner = environment.get_template("web/archive-banner.html.j2").render(context)
    return dressed_edition(copy.html, head, banner)


def archive_context(config: Config, summaries: list[EditionSummary]) -> dict[str, Any]:
    """What the `archive` template shows: every edition by digest."""
    return {"archives": digest_archives(config, summaries), "page_url": config.archive_url}


class ArchivePages:
    """The archive's index and its editions' web copies."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self._gzip = GzipCache(GZIP_COPIES)

    def routes(self) -> list[Route]:
        archive = self.site.paths.archive
        return [
            Route(archive, self.index, methods=["GET"]),
            Route(f"{archive}{{digest}}/{{number}}.html", self.edition, methods=["GET"]),
        ]

    async def index(self, request: Request) -> Response:
        summaries = await run_in_threadpool(self._summaries)
        context = archive_context(self.site.config, summaries)
        return answer_conditionally(request, self.site.render(request, "archive", context))

    async def edition(self, request: Request) -> Response:
        digest = str(request.path_params["digest"])
        number = page_number(str(request.path_params["number"]))
        if number is None or not _DIGEST_NAME.fullmatch(digest):
            raise PageError(404)
        copy = archived_copy(self.site.config, digest, number)
        if copy is None:
            raise PageError(404)
        summary, image = await run_in_threadpool(self._edition, copy.digest, copy.number)
        data = dressed_copy(self.site, copy, summary, image).encode("utf-8")
        version = copy.version
        etag = bytes_etag(data)
        compress = accepts_gzip(request.headers.get("accept-encoding", ""))
        gzipped_etag = gzip_etag(etag)
        headers = {
            "etag": gzipped_etag if compress else etag,
            "last-modified": format_datetime(version.last_modified, usegmt=True),
            "cache-control": REVALIDATE,
            "vary": "Accept-Encoding",
            "content-security-policy": ARCHIVE_POLICY,
        }
        if etag_matches(request.headers.get("if-none-match", ""), (etag, gzipped_etag)):
            return Response(status_code=304, headers=headers)
        if compress:
            headers["content-encoding"] = "gzip"
            data = self._gzip.gzipped(gzipped_etag, data)
        return Response(data, media_type=ARCHIVE_TYPE, headers=headers)

    def _summaries(self) -> list[EditionSummary]:
        with self.site.store.read() as connection:
            return edition_summaries(connection)

    def _edition(self, digest: str, number: int) -> tuple[EditionSummary | None, str]:
        with self.site.store.read() as connection:
            summary = edition_summary(connection, digest, number)
            guids = summary.article_guids if summary else ()
            found = public_articles_with_guids(connection, guids)
        return summary, edition_image(summary, {guid: p.article for guid, p in found.items()})
