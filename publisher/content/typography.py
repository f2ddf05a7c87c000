"""Typographer's punctuation: curly quotes in the language's marks, dashes and ellipses.

markdown-it's typographer would do this while parsing, but the Rust parser's `smartquotes`
rule also curls the quotes inside inline code, so the rendered HTML's text is set here
instead: every text node but those inside code, pre, kbd, samp, script and style.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from publisher.i18n.quotes import ENGLISH, QuotationMarks

APOSTROPHE = "\u2019"

_TAG = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9]*)")
_LITERAL = frozenset({"code", "pre", "kbd", "samp", "script", "style", "textarea", "var", "tt"})
# Inline elements: a quotation may open in one and close in another; any other tag ends it.
_INLINE = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "cite", "code", "del", "dfn", "em", "i", "img",
        "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup",
        "time", "u", "var", "tt", "wbr",
    }
)  # fmt: skip
_WORTH_A_LOOK = re.compile(r"[\"'.\-(+]")
_WORTH_A_LOOK_IN_MARKUP = re.compile(r"[\"'.\-(+]|&quot;|&#0*39;|&#x0*27;|&apos;", re.IGNORECASE)
# Each pattern with a string it cannot match without: a substring test is far cheaper than
# a regular expression, and most text holds none of them.
_REPLACEMENTS = (
    ("(", re.compile(r"\((c)\)", re.IGNORECASE), "\u00a9"),
    ("(", re.compile(r"\((r)\)", re.IGNORECASE), "\u00ae"),
    ("(", re.compile(r"\((tm)\)", re.IGNORECASE), "\u2122"),
    ("+-", re.compile(r"\+-"), "\u00b1"),
    ("...", re.compile(r"\.{3,}"), "\u2026"),
    ("---", re.compile(r"(^|[^-])---(?=[^-]|$)", re.MULTILINE), "\\1\u2014"),
    ("--", re.compile(r"(^|\s)--(?=\s|$)", re.MULTILINE), "\\1\u2013"),
    ("--", re.compile(r"(^|[^-\s])--(?=[^-\s]|$)", re.MULTILINE), "\\1\u2013"),
)
_QUOTE = re.compile(r"[\"']")
# What could make setting a part's text write back anything but the part: a quote, a
# replacement's trigger, or a character that escaping writes otherwise (after `&`, the text is
# the part unescaped; without, the two are the same).
_MAY_CHANGE = re.compile(r"[\"'(&<>]|\+-|\.\.\.|--")


@dataclass(slots=True)
class _Run:
    """A stretch of one block's text: set in type, or kept as written (code)."""

    text: str
    literal: bool


def typeset_text(text: str, marks: QuotationMarks = ENGLISH) -> str:
    """Plain text with curly quotes in `marks`, dashes for `--` and `---`, and ellipses."""
    return _typeset_block([_Run(text, literal=False)], marks)[0]


def typeset_html(markup: str, marks: QuotationMarks = ENGLISH) -> str:
    """`markup` with its text set as `typeset_text` does, and code and scripts left alone."""
    if not _WORTH_A_LOOK_IN_MARKUP.search(markup):
        return markup
    parts = _TAG.split(markup)
    block: list[tuple[int, _Run]] = []
    literal_depth = 0
    for index, part in enumerate(parts):
        if index % 2 == 0:
            if part:
                block.append((index, _Run(html.unescape(part), literal=literal_depth > 0)))
            continue
        name, closing = _tag(part)
        if name in _LITERAL:
            literal_depth = max(0, literal_depth + (-1 if closing else 1))
        if name not in _INLINE:
            _set_block(parts, block, marks)
            block = []
    _set_block(parts, block, marks)
    return "".join(parts)


@functools.lru_cache(maxsize=4096)  # a body repeats the same few tags hundreds of times
def _tag(part: str) -> tuple[str, bool]:
    found = _TAG_NAME.match(part)
    if not found:  # a comment or a declaration
        return "", False
    return found.group(1).lower(), part.startswith("</")


def _set_block(parts: list[str], block: list[tuple[int, _Run]], marks: QuotationMarks) -> None:
    # Setting the block would write back every part as it is: skip the work.
    if not any(not run.literal and _MAY_CHANGE.search(parts[index]) for index, run in block):
        return
    if not any(not run.literal and _WORTH_A_LOOK.search(run.text) for _, run in block):
        return
    typeset = _typeset_block([run for _, run in block], marks)
    for (index, run), text in zip(block, typeset, strict=True):
        if not run.literal:
            parts[index] = html.escape(text, quote=False).replace('"', "&quot;")


def _typeset_block(runs: Sequence[_Run], marks: QuotationMarks) -> list[str]:
    texts = [run.text if run.literal else _replace(run.text) for run in runs]
    joined = "".join(texts)
    if "'" not in joined and '"' not in joined:
        return texts
    editable = bytearray(len(joined))
    start = 0
    for run, text in zip(runs, texts, strict=True):
        if not run.literal:
            editable[start : start + len(text)] = b"\x01" * len(text)
        start += len(text)
    chars = list(joined)
    for position, mark in _quote_marks(joined, editable, marks).items():
        chars[position] = mark
    result, start = [], 0
    for text in texts:
        result.append("".join(chars[start : start + len(text)]))
        start += len(text)
    return result


def _replace(text: str) -> str:
    if not _WORTH_A_LOOK.search(text):
        return text
    for needed, pattern, replacement in _REPLACEMENTS:
        if needed in text:
            text = pattern.sub(replacement, text)
    return text


def _quote_marks(text: str, editable: bytearray, marks: QuotationMarks) -> dict[int, str]:
    """The mark for each straight quote that pairs (or is an apostrophe), by position.

    markdown-it's rules: a quote opens when the next character is a word's and the one before
    is space or punctuation; closes in the mirror case; a closing quote pairs with the last
    open one of its kind. Quotes that pair with none stay straight, but for apostrophes.
    """
    chosen: dict[int, str] = {}
    stack: list[tuple[int, str]] = []
    for found in _QUOTE.finditer(text):
        position, char = found.start(), found.group()
        if not editable[position]:
            continue
        before = text[position - 1] if position else " "
        after = text[position + 1] if position + 1 < len(text) else " "
        single = char == "'"
        if single and before.isalnum() and after.isalnum():
            chosen[position] = APOSTROPHE
            continue
        can_open, can_close = _flanks(before, after)
        if can_open and can_close:  # inside a word, as in Japanese: close what is open, if any
            can_open = not any(kind == char for _, kind in stack)
        if can_close and _close(stack, char, position, chosen, marks):
            continue
        if can_open:
            stack.append((position, char))
        elif single:
            chosen[position] = APOSTROPHE
    # An opening single quote that nothing closes elides, as in the nineties' short form.
    chosen.update((opened, APOSTROPHE) for opened, kind in stack if kind == "'")
    return chosen


def _flanks(before: str, after: str) -> tuple[bool, bool]:
    before_space, after_space = before.isspace(), after.isspace()
    before_punctuation, after_punctuation = _punctuation(before), _punctuation(after)
    can_open = not after_space and (not after_punctuation or before_space or before_punctuation)
    can_close = not before_space and (not before_punctuation or after_space or after_punctuation)
    return can_open, can_close


def _punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _close(
    stack: list[tuple[int, str]],
    char: str,
    position: int,
    chosen: dict[int, str],
    marks: QuotationMarks,
) -> bool:
    for depth in range(len(stack) - 1, -1, -1):
        opened, kind = stack[depth]
        if kind == char:
            single = char == "'"
            chosen[opened] = marks.nested_open if single else marks.open
            chosen[position] = marks.nested_close if single else marks.close
            del stack[depth:]
            return True
    return False
