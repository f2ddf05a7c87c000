"""Markdown to safe HTML: CommonMark plus tables, sanitized with nh3, URLs made absolute."""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urljoin, urlsplit

import nh3
from markdown_it_pyrs import MarkdownIt, Node

from publisher.content.typography import typeset_html
from publisher.i18n.quotes import ENGLISH, QuotationMarks

if TYPE_CHECKING:
    from markdown_it import MarkdownIt as PythonMarkdownIt
    from markdown_it.tree import SyntaxTreeNode

SUMMARY_LENGTH = 280
_SUMMARY_SOURCE = 2000  # characters of Markdown read first to find the first paragraph

# Characters XML 1.0 forbids (controls but tab, LF and CR; surrogates; U+FFFE/F), and the
# C1 controls it discourages, which readers mistake for Windows-1252.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_URL_ATTRIBUTES = {("a", "href"), ("img", "src")}

# The tree's block nodes; every other node inside a block is inline (text, emphasis, links...).
_BLOCK_NODES = frozenset(
    {
        "root", "paragraph", "heading", "lheading", "blockquote", "bullet_list",
        "ordered_list", "list_item", "code_block", "fence", "html_block", "hr",
        "definition", "table", "thead", "tbody", "trow", "tcell",
    }
)  # fmt: skip


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


@functools.cache
def markdown_parser() -> MarkdownIt:
    """The one Markdown parser: CommonMark (raw HTML included) plus tables, in Rust.

    Every body and bio goes through it. Smart punctuation is not its `smartquotes` rule,
    which curls the quotes inside inline code too, but `typeset_html` on what it renders.
    """
    return MarkdownIt("commonmark").enable("table")


@functools.cache
def fallback_parser() -> PythonMarkdownIt:
    """markdown-it-py, set up alike: for the rare text on which the Rust parser panics.

    markdown-it-pyrs 0.4 panics on a `[` followed by a lone backtick (``[` ``); the Python
    parser it was ported from gives the same HTML and tree for everything else.
    """
    from markdown_it import MarkdownIt as PythonMarkdownIt

    return PythonMarkdownIt("commonmark", {"html": True}).enable("table")


def render_markdown(
    body: str, resolve_url: Callable[[str], str], marks: QuotationMarks = ENGLISH
) -> str:
    """Render Markdown to sanitized HTML whose links and images are absolute, its text set
    with curly quotes (`marks`, the language's), dashes and ellipses."""
    source = _markdown_source(body)
    try:
        html = markdown_parser().render(source)
    except BaseException as error:  # a Rust panic is no Exception
        _raise_unless_panic(error)
        html = fallback_parser().render(source)
    # As markdown-it-py wrote an empty quote (`>` alone), so stored HTML stays the same.
    html = html.replace("<blockquote>\n</blockquote>", "<blockquote></blockquote>")
    html = typeset_html(html, marks)
    # Again after sanitizing: character references such as &#12; decode to forbidden characters.
    return strip_forbidden_characters(sanitize_html(html, resolve_url))


def _markdown_source(body: str) -> str:
    # Raw HTML or a fence that ends the file renders the same whether a newline follows or not.
    text = strip_forbidden_characters(body)
    return text if text.endswith("\n") or not text else text + "\n"


def _markdown_tree(source: str) -> Node | SyntaxTreeNode:
    try:
        return markdown_parser().tree(source)
    except BaseException as error:
        _raise_unless_panic(error)
        from markdown_it.tree import SyntaxTreeNode

        return SyntaxTreeNode(fallback_parser().parse(source))


def _raise_unless_panic(error: BaseException) -> None:
    if type(error).__name__ != "PanicException":
        raise error


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


def first_paragraph_text(body: str) -> str:
    """The plain text of the body's first paragraph with any text (a tight list item's too)."""
    source = _markdown_source(body)
    # Blocks end at a blank line, and without link reference definitions nothing later in
    # the text changes an earlier paragraph: the start alone tells, if it holds one.
    cut = source.find("\n\n", _SUMMARY_SOURCE) if "]:" not in source else -1
    return (cut != -1 and _first_text(source[: cut + 1])) or _first_text(source)


def _first_text(source: str) -> str:
    for inlines in _paragraphs(_markdown_tree(source)):
        text = plain_text("".join(_inline_text(inlines)))
        if text:
            return text
    return ""


TreeNode: TypeAlias = "Node | SyntaxTreeNode"


def _kind(node: TreeNode) -> str:
    return node.name if isinstance(node, Node) else node.type


def _paragraphs(block: TreeNode) -> Iterator[Sequence[TreeNode]]:
    """The inline contents of each paragraph under `block`, in document order.

    In the Rust parser's tree an item of a tight list holds its text without a paragraph
    node: each run of inline nodes in it counts as one.
    """
    if _kind(block) == "paragraph":
        yield block.children
        return
    tight_item = _kind(block) == "list_item"
    run: list[TreeNode] = []
    for child in block.children:
        if _kind(child) not in _BLOCK_NODES:
            run.append(child)
            continue
        if run and tight_item:
            yield run
        run = []
        yield from _paragraphs(child)
    if run and tight_item:
        yield run


def _inline_text(nodes: Sequence[TreeNode]) -> Iterator[str]:
    """Text as readers see it: words, code and image descriptions; no markup, no raw HTML."""
    for node in nodes:
        kind = _kind(node)
        if kind in ("text", "text_special") or (kind == "code_inline" and not node.children):
            yield node.meta.get("content", "") if isinstance(node, Node) else node.content
        elif kind in ("softbreak", "hardbreak"):
            yield " "
        elif kind != "html_inline":
            yield from _inline_text(node.children)


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


# The end of a sentence: its mark, any closing quote or bracket, then a space and a capital,
# a digit or an opening mark; or a CJK full stop, which needs no space.
_SENTENCE_END = re.compile(
    "(?<=[.!?\u2026])[\"'\u201d\u2019\u00bb\u300d)\\]]*(?=\\s+[\"'\u201c\u2018\u00ab\u201e(\\[\\d\\w])"
    "|(?<=[\u3002\uff01\uff1f])[\u300d\u300f)]*"
)
# Words a full stop follows without ending a sentence.
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "st", "prof", "jr", "sr", "mt", "no", "nos", "vs", "etc",
        "e.g", "i.e", "cf", "fig", "approx", "ca", "co", "inc", "ltd",
    }
)  # fmt: skip
_CLOSING = "\"')]\u201d\u2019\u00bb"
_OPENING = "(\"'\u201c\u2018\u00ab\u201e"


def cut_at_sentence(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """Shorten `text` to the sentences that fit in `limit` characters.

    When even the first sentence is longer, cut at a word as `cut_at_word` does.
    """
    if len(text) <= limit:
        return text
    # A little past the limit, so the space and capital after a last full stop can be seen.
    ends = [end.end() for end in _SENTENCE_END.finditer(text[: limit + 16])]
    ends = [end for end in ends if end <= limit and not _after_abbreviation(text, end)]
    if not ends:
        return cut_at_word(text, limit)
    return text[: ends[-1]].rstrip()


def _after_abbreviation(text: str, end: int) -> bool:
    words = text[:end].rstrip(_CLOSING).split()
    if not words:
        return False
    word = words[-1].rstrip(".").lower().lstrip(_OPENING)
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())
