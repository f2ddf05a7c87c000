"""Quotation marks as each language prints them: the primary and the nested pair.

Babel does not carry CLDR's delimiters, so this small table does, by the language's primary
subtag; a language it does not name gets English marks.
"""

from __future__ import annotations

from dataclasses import dataclass

NARROW_NO_BREAK_SPACE = "\u202f"


@dataclass(frozen=True, slots=True)
class QuotationMarks:
    """The opening and closing marks of a quotation and of one nested inside it."""

    open: str
    close: str
    nested_open: str
    nested_close: str


ENGLISH = QuotationMarks("\u201c", "\u201d", "\u2018", "\u2019")

_BY_LANGUAGE = {
    "en": ENGLISH,
    "de": QuotationMarks("\u201e", "\u201c", "\u201a", "\u2018"),
    "fr": QuotationMarks(
        "\u00ab" + NARROW_NO_BREAK_SPACE, NARROW_NO_BREAK_SPACE + "\u00bb", "\u201c", "\u201d"
    ),
    "es": QuotationMarks("\u00ab", "\u00bb", "\u201c", "\u201d"),
    "it": QuotationMarks("\u00ab", "\u00bb", "\u201c", "\u201d"),
    "pt": QuotationMarks("\u201c", "\u201d", "\u2018", "\u2019"),
    "nl": QuotationMarks("\u201c", "\u201d", "\u2018", "\u2019"),
    "pl": QuotationMarks("\u201e", "\u201d", "\u00ab", "\u00bb"),
    "ru": QuotationMarks("\u00ab", "\u00bb", "\u201e", "\u201c"),
    "ja": QuotationMarks("\u300c", "\u300d", "\u300e", "\u300f"),
    "zh": QuotationMarks("\u201c", "\u201d", "\u2018", "\u2019"),
}


def quotation_marks(tag: str) -> QuotationMarks:
    """The quotation marks of the language `tag` (BCP 47) names; English ones if unknown."""
    primary = tag.replace("_", "-").split("-")[0].lower()
    return _BY_LANGUAGE.get(primary, ENGLISH)
