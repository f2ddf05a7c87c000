"""Markdown to safe HTML: summaries, forbidden characters, URL resolution and sanitizing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.content.markup import (
    SUMMARY_LENGTH,
    content_path,
    cut_at_word,
    first_paragraph_text,
    plain_text,
    render_markdown,
    sanitize_html,
    strip_forbidden_characters,
    url_resolver,
)

SITE_URL = "https://gazette.example.org/"
MEDIA_URL = "https://gazette.example.org/media/"
PAGE_URL = "https://gazette.example.org/articles/post/"


def xml_allows(character: str) -> bool:
    """Whether XML 1.0 can carry `character` (the spec's `Char` production)."""
    code = ord(character)
    return (
        character in "\t\n\r"
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def is_c1_control(character: str) -> bool:
    """DEL and the C1 controls: XML allows them, but readers take them for Windows-1252."""
    return 0x7F <= ord(character) <= 0x9F


def resolve_from_news_post(url: str) -> str:
    return url_resolver(SITE_URL, MEDIA_URL, "news/post.md", PAGE_URL)(url)


def keep_urls(url: str) -> str:
    return url


# cut_at_word


def test_short_text_is_returned_unchanged() -> None:
    assert cut_at_word("A short summary.", limit=40) == "A short summary."


def test_text_exactly_at_the_limit_is_not_cut() -> None:
    text = "x" * SUMMARY_LENGTH
    assert cut_at_word(text) == text


def test_long_text_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "The harbour will be dredged for the first time in more than a decade"
    assert cut_at_word(text, limit=30) == "The harbour will be dredged…"


def test_cut_drops_trailing_punctuation_before_the_ellipsis() -> None:
    text = "Tides, storms; surges: and more words after the break"
    assert cut_at_word(text, limit=25) == "Tides, storms; surges…"


def test_word_ending_exactly_at_the_limit_is_kept() -> None:
    assert cut_at_word("The storm surges came ashore", limit=17) == "The storm surges…"


def test_single_long_word_is_cut_mid_word_within_the_limit() -> None:
    cut = cut_at_word("a" * 500, limit=20)
    assert cut == "a" * 19 + "…"


def test_default_limit_is_the_summary_length() -> None:
    text = " ".join(["word"] * 200)
    cut = cut_at_word(text)
    assert len(cut) <= SUMMARY_LENGTH
    assert cut.endswith("word…")


@settings(max_examples=100, deadline=None)
@given(text=st.text(), limit=st.integers(min_value=1, max_value=400))
def test_cut_never_exceeds_the_limit_and_is_a_prefix_of_the_text(text: str, limit: int) -> None:
    cut = cut_at_word(text, limit)
    assert len(cut) <= limit
    if cut == text:
        return
    assert cut.endswith("…")
    assert text.startswith(cut.removesuffix("…"))


@settings(max_examples=100, deadline=None)
@given(
    words=st.lists(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)),
    limit=st.integers(min_value=20, max_value=300),
)
def test_cut_of_prose_ends_on_a_whole_word(words: list[str], limit: int) -> None:
    text = " ".join(words)
    cut = cut_at_word(text, limit).removesuffix("…")
    assert cut == text or text[len(cut)] == " " or len(cut) == limit - 1


# The first paragraph as plain text (an article's summary when it has none)


def test_first_paragraph_skips_headings_and_strips_inline_markup() -> None:
    body = "# Heading\n\nFirst **bold** and *em* [a link](https://x.org/) with `code`.\n\nSecond."
    assert first_paragraph_text(body) == "First bold and em a link with code."


def test_first_paragraph_joins_its_lines_with_single_spaces() -> None:
    assert first_paragraph_text("One line\nand the next  \nand a third\n\nNot this") == (
        "One line and the next and a third"
    )


def test_first_paragraph_drops_inline_html_tags_but_keeps_their_text() -> None:
    assert first_paragraph_text("Some <b>bold</b> words") == "Some bold words"


def test_first_paragraph_uses_image_alt_text() -> None:
    assert first_paragraph_text("![The quay at dawn](../images/a.jpg)") == "The quay at dawn"


def test_body_without_paragraphs_has_no_first_paragraph() -> None:
    assert first_paragraph_text("# Only a heading\n\n```\ncode block\n```\n") == ""
    assert first_paragraph_text("") == ""


def test_first_paragraph_has_no_forbidden_characters() -> None:
    assert first_paragraph_text("Bell\x07 and form\x0cfeed") == "Bell and formfeed"


# strip_forbidden_characters and plain_text


@pytest.mark.parametrize(
    "character",
    ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ud800", "\ufffe", "\uffff"],
)
def test_characters_xml_cannot_carry_are_removed(character: str) -> None:
    assert strip_forbidden_characters(f"a{character}b") == "ab"


def test_tab_newline_carriage_return_and_all_scripts_are_kept() -> None:
    text = "tab\there\nline\r\n café 港町 🌊 שלום <&]]>"
    assert strip_forbidden_characters(text) == text


@pytest.mark.parametrize("character", ["\x7f", "\x80", "\x85", "\x9f"])
def test_c1_controls_readers_mistake_for_windows_1252_are_removed(character: str) -> None:
    assert strip_forbidden_characters(f"a{character}b") == "ab"


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_stripping_removes_exactly_the_forbidden_characters(text: str) -> None:
    expected = "".join(c for c in text if xml_allows(c) and not is_c1_control(c))
    assert strip_forbidden_characters(text) == expected


def test_plain_text_collapses_whitespace_to_one_line() -> None:
    assert plain_text("  Harbour\n\tnews \x01 today  ") == "Harbour news today"


# url_resolver


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/articles/x/", "https://gazette.example.org/articles/x/"),
        ("../images/a.jpg", "https://gazette.example.org/media/images/a.jpg"),
        ("photo.jpg", "https://gazette.example.org/media/news/photo.jpg"),
        ("./photo.jpg", "https://gazette.example.org/media/news/photo.jpg"),
        ("#frag", "https://gazette.example.org/articles/post/#frag"),
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("mailto:desk@gazette.example.org", "mailto:desk@gazette.example.org"),
        ("//cdn.example.net/a.png", "https://cdn.example.net/a.png"),
        ("  /articles/x/  ", "https://gazette.example.org/articles/x/"),
        ("", ""),
    ],
)
def test_resolver_makes_urls_absolute(url: str, expected: str) -> None:
    assert resolve_from_news_post(url) == expected


def test_relative_url_escaping_the_content_folder_stays_on_the_site() -> None:
    resolved = resolve_from_news_post("../../etc/passwd")
    assert resolved.startswith(SITE_URL)
    assert not resolved.startswith(MEDIA_URL)


# content_path


@pytest.mark.parametrize(
    ("source", "url", "expected"),
    [
        ("news/post.md", "../images/a.jpg", "images/a.jpg"),
        ("news/post.md", "a.jpg", "news/a.jpg"),
        ("news/post.md", "./sub/a.jpg#part", "news/sub/a.jpg"),
        ("post.md", "images/a.jpg", "images/a.jpg"),
        ("a/b/c.md", "../../x.png", "x.png"),
    ],
)
def test_content_path_names_the_file_inside_the_content_folder(
    source: str, url: str, expected: str
) -> None:
    assert content_path(source, url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "/images/a.jpg",
        "https://example.com/a.jpg",
        "//cdn.example.net/a.jpg",
        "#frag",
        "",
        "mailto:desk@gazette.example.org",
    ],
)
def test_content_path_of_a_non_document_relative_url_is_none(url: str) -> None:
    assert content_path("news/post.md", url) is None


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("news/post.md", "../../etc/passwd"),
        ("post.md", "../etc/passwd"),
        ("a/b/c.md", "../../../x"),
        ("news/post.md", "../.."),
        ("post.md", "."),
    ],
)
def test_content_path_cannot_escape_the_content_folder(source: str, url: str) -> None:
    assert content_path(source, url) is None


@settings(max_examples=100, deadline=None)
@given(
    folders=st.lists(st.sampled_from(["news", "a", "b"]), max_size=3),
    parts=st.lists(st.sampled_from(["..", ".", "x", "y.jpg", ""]), min_size=1, max_size=6),
)
def test_content_path_is_never_outside_the_content_folder(
    folders: list[str], parts: list[str]
) -> None:
    path = content_path("/".join([*folders, "post.md"]), "/".join(parts))
    assert path is None or not (path == ".." or path.startswith(("../", "/")))


# sanitize_html and render_markdown


def test_script_elements_are_removed_with_their_content() -> None:
    html = sanitize_html("<p>before</p><script>alert(1)</script><p>after</p>", keep_urls)
    assert "script" not in html
    assert "alert" not in html
    assert "<p>before</p>" in html
    assert "<p>after</p>" in html


def test_event_handler_attributes_are_removed() -> None:
    html = sanitize_html('<img src="https://x.org/a.jpg" onerror="alert(1)">', keep_urls)
    assert "onerror" not in html
    assert 'src="https://x.org/a.jpg"' in html


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "vbscript:x",
        "data:text/html,x",
    ],
)
def test_unsafe_link_schemes_are_removed(href: str) -> None:
    html = sanitize_html(f'<a href="{href}">x</a>', resolve_from_news_post)
    assert "href" not in html
    assert ">x</a>" in html


def test_style_and_iframe_are_removed() -> None:
    html = sanitize_html(
        '<style>p{}</style><iframe src="https://x.org"></iframe><p style="color:red">s</p>',
        keep_urls,
    )
    assert html == "<p>s</p>"


def test_sanitizing_makes_link_and_image_urls_absolute() -> None:
    html = sanitize_html(
        '<a href="/articles/x/">x</a><img src="../images/a.jpg" alt="a"><a href="#frag">f</a>',
        resolve_from_news_post,
    )
    assert 'href="https://gazette.example.org/articles/x/"' in html
    assert 'src="https://gazette.example.org/media/images/a.jpg"' in html
    assert 'href="https://gazette.example.org/articles/post/#frag"' in html


def test_markdown_tables_render_as_html_tables() -> None:
    html = render_markdown("| Day | Tide |\n|-----|------|\n| Mon | 4.1m |\n", keep_urls)
    assert "<table>" in html
    assert "<td>4.1m</td>" in html


def test_rendered_markdown_has_no_characters_xml_cannot_carry_in_its_text() -> None:
    html = render_markdown("bell\x07 and \x00null", keep_urls)
    assert html == "<p>bell and null</p>\n"


def test_character_reference_to_a_forbidden_character_is_not_rendered() -> None:
    html = render_markdown("form&#12;feed <b title='&#x0C;'>x</b>", keep_urls)
    assert all(xml_allows(character) for character in html)
