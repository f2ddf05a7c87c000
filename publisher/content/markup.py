"""Markdown to safe HTML: CommonMark plus tables, sanitized with nh3, URLs made absolute."""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

SUMMARY_LENGTH = 280

# Characters XML 1.0 forbids (controls but tab, LF and CR; surrogates; U+FFFE/F), and the
# C1 controls it discourages, which readers mistake for Windows-1252.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_URL_ATTRIBUTES = {("a", "href"), ("img", "src")}

_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")


def strip_forbidden_characters(text: str) -> str:
    """Remove the characters that XML 1.0 cannot carry, so no text can break a feed."""
    return _XML_FORBIDDEN.sub("", text)


def plain_text(text: str) -> str:
    """One line of readable text: forbidden characters removed, whitespace collapsed."""
    return " ".join(strip_forbidden_characters(text).split())


def url_resolver(site_url: str, media_url: str, source: str, page_url: str) -> Callable[[str], str]:
    """Return a function making a URL written in the article at `source` absolute.

    Root-relative URLs join the site URL; document-relative ones name a file in the content
    folder, relative to the article's own file, and are served under `media_url`.
    """

    def resolve(url: str) -> str:
        url = url.strip()
        if not url or urlsplit(url).scheme:
            return url
        if url.startswith("//"):
            return "https:" + url
        if url.startswith("#"):
            return page_url + url
        if url.startswith("/"):
            return urljoin(site_url, url)
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), url))
        if path.startswith("../") or path == "..":
            return urljoin(site_url, url)
        return urljoin(media_url, path)

    return resolve


def content_path(source: str, url: str) -> str | None:
    """The content-folder path a document-relative URL names, or None if it names none."""
    if not url or urlsplit(url).scheme or url.startswith(("/", "#")):
        return None
    path = posixpath.normpath(posixpath.join(posixpath.dirname(source), url.split("#")[0]))
    if path.startswith("../") or path in ("..", "."):
        return None
    return path


@dataclass(frozen=True, slots=True)
class RenderedBody:
    """An article body parsed once: its safe HTML and its first paragraph as plain text."""

    html: str
    first_paragraph: str


def render_body(body: str, resolve_url: Callable[[str], str]) -> RenderedBody:
    """Parse Markdown once: sanitized HTML with absolute URLs, and the first paragraph."""
    tokens = _markdown.parse(strip_forbidden_characters(body))
    html = _markdown.renderer.render(tokens, _markdown.options, {})
    # Again after sanitizing: character references such as &#12; decode to forbidden characters.
    safe = strip_forbidden_characters(sanitize_html(html, resolve_url))
    return RenderedBody(safe, _first_paragraph(tokens))


def render_markdown(body: str, resolve_url: Callable[[str], str]) -> str:
    """Render Markdown to sanitized HTML whose links and images are absolute."""
    return render_body(body, resolve_url).html


def sanitize_html(html: str, resolve_url: Callable[[str], str]) -> str:
    """Drop scripts, handlers and unsafe URLs, and make every link and image URL absolute."""

    def absolute_urls(element: str, attribute: str, value: str) -> str | None:
        if (element, attribute) in _URL_ATTRIBUTES:
            return resolve_url(value)
        return value

    cleaned: str = nh3.clean(
        html,
        clean_content_tags={"script", "style"},
        attribute_filter=absolute_urls,
        url_schemes={"http", "https", "mailto"},
    )
    return cleaned


def _first_paragraph(tokens: list[Token]) -> str:
    for opening, inline in itertools.pairwise(tokens):
        if opening.type == "paragraph_open" and inline.type == "inline":
            text = plain_text("".join(_inline_text(inline.children or [])))
            if text:
                return text
    return ""


def _inline_text(children: list[Token]) -> list[str]:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.extend(_inline_text(child.children or []))
    return parts


def cut_at_word(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """Shorten `text` to at most `limit` characters, ending at a word boundary with an ellipsis."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():
        space = cut.rfind(" ")
        if space > limit // 2:
            cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"
