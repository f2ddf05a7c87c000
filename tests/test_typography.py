"""Curly quotes in the site's language, dashes and ellipses; code kept as written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.content.markup import cut_at_sentence, render_markdown
from publisher.content.typography import typeset_html, typeset_text
from publisher.i18n.quotes import quotation_marks


def keep(url: str) -> str:
    return url


def test_straight_quotes_become_curly_and_apostrophes_turn_right() -> None:
    assert (
        typeset_text("He said \"it's 'fine' here\"")
        == "He said \u201cit\u2019s \u2018fine\u2019 here\u201d"
    )


def test_dashes_and_ellipses_are_set() -> None:
    assert typeset_text("9--3 -- then --- wait...") == "9\u20133 \u2013 then \u2014 wait\u2026"


def test_quotes_in_inline_code_and_code_blocks_stay_straight() -> None:
    html = render_markdown('Run `echo "hi" -- x` then:\n\n```\nsay "it\'s"\n```\n', keep)
    assert (
        html
        == '<p>Run <code>echo "hi" -- x</code> then:</p>\n<pre><code>say "it\'s"\n</code></pre>\n'
    )


def test_a_quotation_spans_emphasis_and_links() -> None:
    html = render_markdown('"**Bold** and [a link](https://example.org/)"\n', keep)
    assert html.startswith("<p>\u201c<strong>")
    assert html.endswith("</a>\u201d</p>\n")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "\u201cHallo\u201d"),
        ("de", "\u201eHallo\u201c"),
        ("fr", "\u00ab\u202fHallo\u202f\u00bb"),
        ("es", "\u00abHallo\u00bb"),
        ("ja", "\u300cHallo\u300d"),
        ("de-CH", "\u201eHallo\u201c"),
        ("xx", "\u201cHallo\u201d"),
    ],
)
def test_quotation_marks_follow_the_site_language(language: str, expected: str) -> None:
    assert typeset_text('"Hallo"', quotation_marks(language)) == expected


def test_german_apostrophe_is_not_a_closing_single_quote() -> None:
    assert typeset_text("Er sagte 'geht's'.", quotation_marks("de")) == (
        "Er sagte \u201ageht\u2019s\u2018."
    )


def test_japanese_quotes_close_between_letters_without_spaces() -> None:
    assert typeset_text('"\u6e2f"\u3068', quotation_marks("ja")) == "\u300c\u6e2f\u300d\u3068"


def test_an_unpaired_double_quote_stays_straight() -> None:
    assert typeset_text("5' 10\" tall") == '5\u2019 10" tall'


def test_attributes_are_not_touched() -> None:
    html = '<p><a href="https://x.example/a--b" title="a &quot;b&quot;">"x"</a></p>'
    assert (
        typeset_html(html)
        == '<p><a href="https://x.example/a--b" title="a &quot;b&quot;">\u201cx\u201d</a></p>'
    )


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_typesetting_twice_changes_nothing_more(text: str) -> None:
    once = typeset_text(text)
    assert typeset_text(once) == once


# Summaries cut at a sentence ---------------------------------------------------------------


def test_summary_ends_at_the_last_sentence_that_fits() -> None:
    text = "The tide rose 0.4 metres. Dr. Smith called it normal. " + "More words " * 40
    assert cut_at_sentence(text, 100) == "The tide rose 0.4 metres. Dr. Smith called it normal."


def test_summary_with_a_first_sentence_too_long_is_cut_at_a_word() -> None:
    text = "word " * 100
    cut = cut_at_sentence(text, 50)
    assert cut.endswith("\u2026")
    assert len(cut) <= 50


def test_summary_keeps_a_closing_quote_after_the_full_stop() -> None:
    text = "She said \u201cno.\u201d Then she left. " + "x " * 200
    assert cut_at_sentence(text, 40) == "She said \u201cno.\u201d Then she left."


def test_japanese_summary_ends_at_a_full_stop() -> None:
    text = "\u6e2f\u306f\u9759\u304b\u3002" * 30
    assert cut_at_sentence(text, 12) == "\u6e2f\u306f\u9759\u304b\u3002" * 2
