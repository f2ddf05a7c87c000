"""Articles: Markdown with YAML or TOML front matter, parsed into values or a FILE:LINE error."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import load_config
from publisher.content.articles import (
    Article,
    Author,
    Category,
    MediaFile,
    SiteSettings,
    parse_article,
    read_front_matter,
)
from publisher.errors import ContentError
from publisher.site.gather import check_content, media_lookup, site_settings
from tests.conftest import REPO, Site
from tests.test_markup import is_c1_control, xml_allows

SETTINGS = site_settings(load_config(REPO / "config.toml", {}))
SAMPLE_MEDIA = media_lookup(REPO / "content")
SITE_URL = "https://gazette.example.org/"
MEDIA_URL = "https://gazette.example.org/media/"
SOURCE = "news/post.md"
# Line 1 is the opening ---, so `extra` front matter starts on line 4.
MINIMAL = 'title: "Harbour news"\ndate: 2026-07-01T09:00:00\n'
EXTRA_LINE = 4


def article_text(extra: str = "", body: str = "The harbour reopens today.\n") -> str:
    return f"---\n{MINIMAL}{extra}---\n{body}"


def parse(
    text: str | bytes,
    source: str = SOURCE,
    site: SiteSettings = SETTINGS,
    media: Callable[[str], MediaFile | None] = SAMPLE_MEDIA,
) -> Article:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return parse_article(source, raw, site, media)


def parse_or_error(raw: bytes) -> Article | ContentError:
    try:
        return parse(raw)
    except ContentError as error:
        return error


def content_error(text: str | bytes, source: str = SOURCE) -> ContentError:
    """The ContentError parsing `text` raises, checked to read `FILE:LINE: message`."""
    with pytest.raises(ContentError) as raised:
        parse(text, source)
    error = raised.value
    assert str(error) == f"{source}:{error.line}: {error.message}"
    assert error.path == source
    return error


def with_pattern(article_url: str) -> SiteSettings:
    return SiteSettings(SETTINGS.url, SETTINGS.timezone, article_url, SETTINGS.media_url)


# The sample site


def sample_articles(site: Site) -> dict[str, Article]:
    articles, errors = check_content(site.config())
    assert errors == []
    return {article.source: article for article in articles}


def test_every_sample_article_parses(site: Site) -> None:
    articles = sample_articles(site)
    assert len(articles) == 16
    for article in articles.values():
        assert article.title
        assert article.date.tzinfo == UTC
        assert article.url.startswith(SITE_URL)
        assert article.summary
        assert article.body_html
        assert article.authors
        assert article.image is not None
        assert article.image.length


def test_sample_toml_articles_parse(site: Site) -> None:
    articles = sample_articles(site)
    shanty = articles["culture/sea-shanty-choir-album.md"]
    assert shanty.title == "Shanty choir records first album in the old sail loft"
    assert shanty.date == datetime(2026, 11, 18, 19, 45, tzinfo=UTC)
    assert shanty.authors == (
        Author("Hana Mori", url="https://gazette.example.org/authors/hana-mori/"),
    )
    assert shanty.categories == (Category("Culture", "culture"),)
    lifeboat = articles["news/lifeboat-station-appeal.md"]
    assert lifeboat.slug == "lifeboat-station-appeal"
    assert lifeboat.image is not None
    assert lifeboat.image.url == MEDIA_URL + "images/lifeboat-station.jpg"
    assert lifeboat.image.media_type == "image/jpeg"


def test_sample_non_ascii_article_keeps_accents_cjk_and_emoji(site: Site) -> None:
    article = sample_articles(site)["culture/port-alder-twins-with-oarai.md"]
    assert article.title == "Café culture meets 港町: Port Alder twins with Ōarai 🌊"
    assert "大洗町" in article.body_html
    assert "しらす" in article.body_html
    assert "港町の人は" in article.body_html
    assert "Ōarai" in article.summary
    assert article.authors[0].name == "Hana Mori"


def test_sample_draft_is_the_only_draft(site: Site) -> None:
    drafts = [a.source for a in sample_articles(site).values() if a.draft]
    assert drafts == ["news/sea-wall-repairs.md"]


def test_sample_articles_with_an_id_have_a_key(site: Site) -> None:
    keys = {a.source: a.key for a in sample_articles(site).values() if a.key}
    assert keys == {
        "business/boatyard-apprenticeships.md": "urn:uuid:b3e7a915-0c2f-4d6b-8e14-7a9c3f21d5e0",
        "culture/port-alder-twins-with-oarai.md": "urn:uuid:6f1c2d8e-3b4a-4c9e-9a71-52d0e8b3f4a6",
    }


# YAML and TOML

YAML_ARTICLE = """\
---
title: "Lantern festival returns"
date: 2026-10-31T16:00:00
updated: 2026-11-01
slug: lantern-festival
id: "urn:uuid:1234"
summary: "Lanterns on the water."
categories: [Culture, News]
tags: [festival, harbour]
draft: true
authors:
  - Jonah Whitlock
  - name: Tom Reyes
    email: tom@gazette.example.org
image:
  url: ../images/lantern-festival.jpg
  alt: "Lanterns"
  caption: "Lanterns at dusk."
  credit: "Photo: Tom Reyes"
---
The procession leaves the fish market at **6pm**.
"""

TOML_ARTICLE = """\
+++
title = "Lantern festival returns"
date = 2026-10-31T16:00:00
updated = 2026-11-01
slug = "lantern-festival"
id = "urn:uuid:1234"
summary = "Lanterns on the water."
categories = ["Culture", "News"]
tags = ["festival", "harbour"]
draft = true
authors = ["Jonah Whitlock", { name = "Tom Reyes", email = "tom@gazette.example.org" }]

[image]
url = "../images/lantern-festival.jpg"
alt = "Lanterns"
caption = "Lanterns at dusk."
credit = "Photo: Tom Reyes"
+++
The procession leaves the fish market at **6pm**.
"""


def test_yaml_and_toml_front_matter_give_the_same_article() -> None:
    from_yaml, from_toml = parse(YAML_ARTICLE), parse(TOML_ARTICLE)
    assert from_yaml == from_toml
    assert from_yaml.updated == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert from_yaml.authors == (
        Author("Jonah Whitlock"),
        Author("Tom Reyes", email="tom@gazette.example.org"),
    )
    assert (
        from_yaml.body_html
        == "<p>The procession leaves the fish market at <strong>6pm</strong>.</p>\n"
    )


def test_byte_order_mark_is_ignored() -> None:
    assert parse(b"\xef\xbb\xbf" + article_text().encode()) == parse(article_text())


def test_windows_line_endings_parse_like_unix_ones() -> None:
    text = article_text("slug: crlf\n")
    assert parse(text.replace("\n", "\r\n")).slug == "crlf"


# Dates


def published(written: str) -> datetime:
    date = parse(f'---\ntitle: "Harbour news"\ndate: {written}\n---\nBody.\n').date
    assert date.tzinfo == UTC
    return date


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-07-01T09:00:00", datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01T09:00:00", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_naive_date_is_in_site_timezone(written: str, expected: datetime) -> None:
    assert published(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-07-01T09:00:00+02:00", datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),
        ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01T09:00:00-05:00", datetime(2026, 12, 1, 14, 0, tzinfo=UTC)),
    ],
)
def test_date_with_an_offset_keeps_its_offset(written: str, expected: datetime) -> None:
    assert published(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-07-01", datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_date_only_is_midnight_in_site_timezone(written: str, expected: datetime) -> None:
    assert published(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('"2026-07-01 09:00"', datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),
        ('"2026-07-01T09:00+01:00"', datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),
        ('"2026-07-01"', datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
    ],
)
def test_quoted_string_date_is_parsed(written: str, expected: datetime) -> None:
    assert published(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-07-01T09:00:00", datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),
        ("2026-07-01T09:00:00-04:00", datetime(2026, 7, 1, 13, 0, tzinfo=UTC)),
        ("2026-07-01", datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
        ('"2026-07-01 09:00"', datetime(2026, 7, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_toml_dates_follow_the_same_rules(written: str, expected: datetime) -> None:
    text = f'+++\ntitle = "Harbour news"\ndate = {written}\n+++\nBody.\n'
    assert parse(text).date == expected


def test_updated_date_is_converted_like_the_date() -> None:
    article = parse(article_text("updated: 2026-12-01T09:00:00\n"))
    assert article.updated == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert parse(article_text()).updated is None


@pytest.mark.parametrize(
    "written",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00:00-05:00",
        # Valid in UTC, but before year 1 in London's 1st January (its zone was -0:01:15).
        "0001-01-01T00:00:00Z",
        "0001-01-01",
    ],
)
def test_date_out_of_range_is_a_content_error_on_the_date_line(written: str) -> None:
    error = content_error(f'---\ntitle: "Harbour news"\ndate: {written}\n---\nBody.\n')
    assert error.line == 3


# Slugs


def test_front_matter_slug_wins_over_the_file_name() -> None:
    assert parse(article_text("slug: harbour-news-2026\n")).slug == "harbour-news-2026"


@pytest.mark.parametrize(
    ("source", "slug"),
    [
        ("news/post.md", "post"),
        ("news/Café Culture Night.md", "cafe-culture-night"),
        ("news/Harbour_News 2026.markdown", "harbour-news-2026"),
        ("news/some-folder/index.md", "some-folder"),
        ("index.md", "index"),
    ],
)
def test_slug_defaults_to_the_slugified_file_name(source: str, slug: str) -> None:
    assert parse(article_text(), source).slug == slug


@pytest.mark.parametrize("slug", ["Hello World", "hello_world", "-hello", "hello--world", '""'])
def test_bad_slug_is_an_error_on_the_slug_line(slug: str) -> None:
    error = content_error(article_text(f"slug: {slug}\n"))
    assert error.line == EXTRA_LINE
    assert "slug" in error.message


def test_file_name_without_letters_needs_a_slug() -> None:
    error = content_error(article_text(), source="news/🌊.md")
    assert "slug" in error.message


# URLs


def test_url_follows_the_site_pattern() -> None:
    assert parse(article_text()).url == "https://gazette.example.org/articles/post/"


def test_url_date_placeholders_use_the_site_timezone() -> None:
    # 00:30 on 1 July in London is still 30 June in UTC.
    text = '---\ntitle: "Harbour news"\ndate: 2026-07-01T00:30:00\n---\nBody.\n'
    article = parse(text, site=with_pattern("/{year}/{month}/{day}/{slug}/"))
    assert article.date == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert article.url == "https://gazette.example.org/2026/07/01/post/"


def test_front_matter_url_wins_over_the_pattern() -> None:
    article = parse(article_text("url: https://elsewhere.example.net/story\n"))
    assert article.url == "https://elsewhere.example.net/story"


@pytest.mark.parametrize("url", ["/articles/post/", "post.html", "ftp://example.net/x"])
def test_front_matter_url_that_is_not_absolute_http_is_an_error_on_its_line(url: str) -> None:
    error = content_error(article_text(f"url: {url}\n"))
    assert error.line == EXTRA_LINE
    assert "url" in error.message


def test_error_line_is_the_top_level_key_not_a_nested_one() -> None:
    extra = "author:\n  name: Priya Nair\n  url: https://gazette.example.org/p/\nurl: /rel/\n"
    assert content_error(article_text(extra)).line == EXTRA_LINE + 3


# Authors


def test_author_may_be_a_name() -> None:
    assert parse(article_text("author: Priya Nair\n")).authors == (Author("Priya Nair"),)


def test_author_may_be_a_mapping() -> None:
    extra = "author:\n  name: Priya Nair\n  email: p@gazette.example.org\n  url: https://x.org/p\n"
    assert parse(article_text(extra)).authors == (
        Author("Priya Nair", "p@gazette.example.org", "https://x.org/p"),
    )


def test_authors_may_be_a_list_of_names_and_mappings() -> None:
    extra = "authors:\n  - Jonah Whitlock\n  - name: Tom Reyes\n    url: https://x.org/t\n"
    assert parse(article_text(extra)).authors == (
        Author("Jonah Whitlock"),
        Author("Tom Reyes", url="https://x.org/t"),
    )


def test_article_without_author_has_none() -> None:
    assert parse(article_text()).authors == ()


def test_author_with_an_unknown_key_is_an_error_on_the_author_line() -> None:
    error = content_error(article_text("author:\n  name: Priya Nair\n  nick: pn\n"))
    assert error.line == EXTRA_LINE


# Summaries


def test_front_matter_summary_wins() -> None:
    article = parse(article_text('summary: "Dredging  starts\\n in March."\n'))
    assert article.summary == "Dredging starts in March."


def test_summary_defaults_to_the_first_paragraph_as_plain_text() -> None:
    body = (
        "# Heading\n\nThe **harbour** [reopens](/x/) with `code`\nat dawn.\n\nSecond paragraph.\n"
    )
    assert parse(article_text(body=body)).summary == "The harbour reopens with code at dawn."


def test_long_first_paragraph_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    paragraph = " ".join(f"word{number}" for number in range(100))
    summary = parse(article_text(body=paragraph + "\n")).summary
    assert len(summary) <= 280
    assert summary.endswith("…")
    kept = summary.removesuffix("…")
    assert paragraph.startswith(kept)
    assert paragraph[len(kept)] == " "


def test_body_without_text_has_an_empty_summary() -> None:
    assert parse(article_text(body="")).summary == ""


# Body


def test_markdown_tables_render() -> None:
    body = "| Day | Tide |\n|-----|------|\n| Mon | 4.1m |\n"
    html = parse(article_text(body=body)).body_html
    assert "<table>" in html
    assert "<td>4.1m</td>" in html


def test_scripts_handlers_and_javascript_links_are_removed_from_the_body() -> None:
    body = (
        "<script>alert('x')</script>\n\n"
        '<img src="https://x.org/a.jpg" onerror="alert(1)">\n\n'
        "[click](javascript:alert(1)) and <a href='javascript:alert(2)'>this</a>\n"
    )
    html = parse(article_text(body=body)).body_html
    assert "<script" not in html
    assert "alert('x')" not in html
    assert "onerror" not in html
    urls = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert urls == ["https://x.org/a.jpg"]
    assert "this</a>" in html


def test_relative_links_and_images_become_absolute() -> None:
    body = "[root](/articles/x/) [media](../images/a.jpg) [here](#frag) ![pic](photo.jpg)\n"
    html = parse(article_text(body=body)).body_html
    assert 'href="https://gazette.example.org/articles/x/"' in html
    assert 'href="https://gazette.example.org/media/images/a.jpg"' in html
    assert 'href="https://gazette.example.org/articles/post/#frag"' in html
    assert 'src="https://gazette.example.org/media/news/photo.jpg"' in html


def test_fragment_links_follow_a_front_matter_url() -> None:
    text = article_text("url: https://elsewhere.example.net/story\n", body="[here](#frag)\n")
    assert 'href="https://elsewhere.example.net/story#frag"' in parse(text).body_html


# Hero images


def test_hero_image_in_the_content_folder_has_its_length_and_type() -> None:
    image = parse(article_text("image: ../images/market-chart.png\n")).image
    assert image is not None
    assert image.url == MEDIA_URL + "images/market-chart.png"
    assert image.length == (REPO / "content" / "images" / "market-chart.png").stat().st_size
    assert image.media_type == "image/png"


def test_hero_image_mapping_keeps_alt_caption_and_credit() -> None:
    extra = (
        "image:\n  url: ../images/night-sky.jpg\n  alt: Stars\n"
        "  caption: The observatory.\n  credit: Photo by Eilidh\n"
    )
    image = parse(article_text(extra)).image
    assert image is not None
    assert (image.alt, image.caption, image.credit) == (
        "Stars",
        "The observatory.",
        "Photo by Eilidh",
    )
    assert image.length == (REPO / "content" / "images" / "night-sky.jpg").stat().st_size
    assert image.media_type == "image/jpeg"


@pytest.mark.parametrize(
    "extra", ["image: ../images/missing.jpg\n", "image:\n  url: ../images/missing.jpg\n"]
)
def test_missing_hero_image_is_an_error_on_the_image_line(extra: str) -> None:
    error = content_error(article_text(extra))
    assert error.line == EXTRA_LINE
    assert "images/missing.jpg" in error.message


def test_missing_hero_image_in_a_toml_table_is_an_error_on_the_table_line() -> None:
    text = '+++\ntitle = "x"\ndate = 2026-07-01\n\n[image]\nurl = "../images/missing.jpg"\n+++\n'
    assert content_error(text).line == 5


def test_hero_image_outside_the_content_folder_is_never_read(site: Site) -> None:
    (site.root / "secret.jpg").write_bytes(b"\xff\xd8 not for the public")
    article = parse(article_text("image: ../../secret.jpg\n"), media=media_lookup(site.content))
    assert article.image is not None
    assert article.image.length is None
    assert not article.image.url.startswith(MEDIA_URL)


def test_hero_image_found_in_a_written_site_folder(site: Site) -> None:
    (site.content / "news" / "quay.webp").write_bytes(b"RIFF" + b"\0" * 96)
    article = parse(article_text("image: quay.webp\n"), media=media_lookup(site.content))
    assert article.image is not None
    assert article.image.url == MEDIA_URL + "news/quay.webp"
    assert article.image.length == 100


def test_absolute_hero_image_has_no_length_and_a_guessed_type() -> None:
    image = parse(article_text("image: https://cdn.example.net/photos/quay.jpg\n")).image
    assert image is not None
    assert image.url == "https://cdn.example.net/photos/quay.jpg"
    assert image.length is None
    assert image.media_type == "image/jpeg"


@pytest.mark.parametrize(
    ("extra", "alt"),
    [
        ("image:\n  url: ../images/seagrass.jpg\n  alt: Seagrass\n  caption: C\n", "Seagrass"),
        ("image:\n  url: ../images/seagrass.jpg\n  caption: The meadow.\n", "The meadow."),
        ("image:\n  url: ../images/seagrass.jpg\n", "Harbour news"),
        ("image: ../images/seagrass.jpg\n", "Harbour news"),
    ],
)
def test_image_alt_falls_back_to_caption_then_title(extra: str, alt: str) -> None:
    image = parse(article_text(extra)).image
    assert image is not None
    assert image.alt == alt


# Categories and tags


def test_categories_are_deduplicated_by_slug() -> None:
    article = parse(article_text('categories: [News, news, " NEWS ", Science]\n'))
    assert article.categories == (Category("News", "news"), Category("Science", "science"))


def test_single_category_may_be_a_string() -> None:
    assert parse(article_text("categories: Culture\n")).categories == (
        Category("Culture", "culture"),
    )


def test_category_slug_is_ascii() -> None:
    article = parse(article_text("categories: [Café Culture, 港町]\n"))
    assert [c.slug for c in article.categories] == ["cafe-culture", "gang-ting"]


def test_category_without_letters_or_digits_is_an_error_on_its_line() -> None:
    error = content_error(article_text('categories: ["🌊"]\n'))
    assert error.line == EXTRA_LINE
    assert "🌊" in error.message


def test_tags_are_deduplicated_in_order() -> None:
    assert parse(article_text("tags: [b, a, b, ' a ']\n")).tags == ("b", "a")


# Errors carry file and line


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ("summary: a: b\n", EXTRA_LINE),
        ("\tsummary: x\n", EXTRA_LINE),
        ("summary: x\nfoo: *undefined\n", EXTRA_LINE + 1),
        ("summary: x\ntags: [a, b\nmore: y\n", EXTRA_LINE + 2),
    ],
)
def test_bad_yaml_is_an_error_on_the_line_of_the_problem(extra: str, line: int) -> None:
    error = content_error(article_text(extra))
    assert error.line == line
    assert "YAML" in error.message


def test_bad_toml_is_an_error_on_its_line() -> None:
    error = content_error('+++\ntitle = "x"\ndate = 2026-07-01\nsummary = \n+++\nBody.\n')
    assert error.line == 4
    assert "TOML" in error.message


def test_blank_lines_after_the_opening_fence_count_towards_the_line() -> None:
    error = content_error('---\n\n\ntitle: "x"\ndate: nope\n---\nBody.\n')
    assert error.line == 5


def test_missing_title_is_an_error_on_line_one_naming_title() -> None:
    error = content_error("---\ndate: 2026-07-01\n---\nBody.\n")
    assert error.line == 1
    assert "`title`" in error.message


@pytest.mark.parametrize("title", ['""', '"   "', '"\\x01\\x0b"', "[a, b]", "null"])
def test_blank_or_wrong_type_title_is_an_error_on_the_title_line(title: str) -> None:
    error = content_error(f"---\ntitle: {title}\ndate: 2026-07-01\n---\nBody.\n")
    assert error.line == 2
    assert "title" in error.message


@pytest.mark.parametrize("date", ["nope", "2026-13-01", "2026-02-30T09:00:00", "[2026]"])
def test_bad_date_is_an_error_on_the_date_line(date: str) -> None:
    error = content_error(f'---\ntitle: "Harbour news"\nslug: x\ndate: {date}\n---\nBody.\n')
    assert error.line == 4
    assert "date" in error.message


def test_wrong_typed_value_is_an_error_on_its_line() -> None:
    error = content_error(article_text("draft: maybe\n"))
    assert error.line == EXTRA_LINE
    assert "draft" in error.message


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        (b'---\ntitle: "caf\xe9"\ndate: 2026-07-01\n---\nBody.\n', 2),
        (b'---\ntitle: "x"\ndate: 2026-07-01\n---\nBody.\n\nTruncated \xe2\x82\n', 7),
    ],
)
def test_file_that_is_not_utf8_is_an_error_on_the_line_of_the_bad_byte(
    raw: bytes, line: int
) -> None:
    error = content_error(raw)
    assert error.line == line
    assert "UTF-8" in error.message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("# Just Markdown\n\nNo front matter.\n", 1, "no front matter"),
        ("", 1, "no front matter"),
        ('---\ntitle: "x"\ndate: 2026-07-01\nBody.\n', 1, "not closed"),
        ('+++\ntitle = "x"\n', 1, "not closed"),
        ("---\n- title\n- date\n---\nBody.\n", 2, "mapping"),
        ('---\n"just a string"\n---\nBody.\n', 2, "mapping"),
        ("---\n---\nBody.\n", 2, "mapping"),
    ],
)
def test_malformed_front_matter_is_an_error_naming_file_and_line(
    text: str, line: int, words: str
) -> None:
    error = content_error(text)
    assert error.line == line
    assert words in error.message


# Hostile text

HOSTILE_TITLE = "Breaking <script>alert('x')</script> ]]> & co\x01n\x0btrol 🌊 שלום עולם"
HOSTILE_EXPECTED = "Breaking <script>alert('x')</script> ]]> & control 🌊 שלום עולם"


@pytest.mark.parametrize("fence", ["---", "+++"])
def test_hostile_title_comes_back_as_the_same_text_minus_control_characters(fence: str) -> None:
    title = json.dumps(HOSTILE_TITLE, ensure_ascii=False)
    if fence == "---":
        text = f"---\ntitle: {title}\ndate: 2026-07-01\n---\nBody.\n"
    else:
        text = f"+++\ntitle = {title}\ndate = 2026-07-01\n+++\nBody.\n"
    assert parse(text).title == HOSTILE_EXPECTED


def test_hostile_author_and_category_names_lose_control_characters() -> None:
    extra = 'author: "Pri\\x01ya <b>Nair</b>"\ncategories: ["Ne\\x0bws & <i>views</i>"]\n'
    article = parse(article_text(extra))
    assert article.authors == (Author("Priya <b>Nair</b>"),)
    assert article.categories[0].name == "News & <i>views</i>"


any_text = st.text(st.characters(exclude_categories=()), max_size=80)


def yaml_raw(title: str) -> str:
    return f'---\ntitle: "{title}"\ndate: 2026-07-01\n---\n'


def yaml_escaped(title: str) -> str:
    return f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\ndate: 2026-07-01\n---\n"


def toml_escaped(title: str) -> str:
    return f"+++\ntitle = {json.dumps(title, ensure_ascii=False)}\ndate = 2026-07-01\n+++\n"


@settings(max_examples=100, deadline=None)
@given(
    title=any_text,
    body=st.text(st.characters(exclude_categories=()), max_size=300),
    front_matter=st.sampled_from([yaml_raw, yaml_escaped, toml_escaped]),
)
def test_any_title_and_body_give_an_article_or_a_content_error(
    title: str, body: str, front_matter: Callable[[str], str]
) -> None:
    raw = (front_matter(title) + body).encode("utf-8", "surrogatepass")
    article = parse_or_error(raw)
    if isinstance(article, ContentError):
        assert article.line >= 1
        return
    assert article.title
    assert all(xml_allows(character) for character in article.title)
    assert all(xml_allows(character) for character in article.summary)


@settings(max_examples=100, deadline=None)
@given(title=st.text(st.characters(codec="utf-8", exclude_characters="\x7f"), max_size=80))
def test_any_toml_title_comes_back_as_the_same_text_minus_control_characters(title: str) -> None:
    expected = " ".join("".join(c for c in title if xml_allows(c) and not is_c1_control(c)).split())
    if not expected:
        with pytest.raises(ContentError):
            parse(toml_escaped(title))
        return
    assert parse(toml_escaped(title)).title == expected


# Front matter on libyaml: the values the pure-Python loader gave -------------------------


class _PurePythonLoader(yaml.SafeLoader):
    """The loader front matter used before libyaml: the same resolvers, dates kept as text."""


_PurePythonLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def pure_python_load(front_text: str) -> object:
    return yaml.load(front_text, Loader=_PurePythonLoader)


def test_front_matter_is_read_with_libyaml() -> None:
    assert yaml.__with_libyaml__


YAML_SAMPLES = sorted(p for p in REPO.glob("content/**/*.md") if p.read_bytes().startswith(b"---"))


@pytest.mark.parametrize("path", YAML_SAMPLES, ids=lambda path: path.name)
def test_every_sample_front_matter_loads_as_the_pure_python_loader_did(path: Path) -> None:
    raw = path.read_bytes()
    file = read_front_matter(path.name, raw)
    assert repr(file.data) == repr(pure_python_load(file.front_text))


TRICKY_YAML = {
    "dates and times": "date: 2026-03-01\nupdated: 2026-03-01T09:30:00+01:00\n"
    "spaced: 2026-03-01 09:30:00\ntime: 12:30\nclock: 1:02:03\n",
    "numbers": "a: 017\nb: 0o17\nc: 0x1F\nd: 1_000\ne: 1e3\nf: .5\ng: +12\nh: -.inf\n"
    "i: .NaN\nj: 190:20:30\nk: 1.0e+3\nl: 0b101\nm: '42'\n",
    "booleans and nulls": "a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: ~\nh: null\n"
    "i:\nj: y\nk: n\n",
    "anchors and merges": "base: &base {x: 1, y: [a, b]}\ncopy: *base\n"
    "merged:\n  <<: *base\n  y: 2\nlist: [&one 1, *one]\n",
    "strings": "a: 'it''s'\nb: \"tab\\there \\u00e9 \\U0001F600\"\nc: |\n  line one\n  line two\n"
    "d: >-\n  folded\n  text\ne: x:y and a - b\nf: '#not a comment'  # comment\ng: Café\n",
    "collections": "tags: [a, 'b', \"c\", 1, 2.5, true]\nauthors:\n  - name: A\n    email: a@b.c\n"
    "  - B\nempty_list: []\nempty_map: {}\nnested: {a: {b: [1, {c: d}]}}\n",
    "keys": '1: int key\ntrue: bool key\n? complex\n: value\n"quoted key": x\n',
}


@pytest.mark.parametrize("front", TRICKY_YAML.values(), ids=TRICKY_YAML.keys())
def test_tricky_yaml_loads_as_the_pure_python_loader_did(front: str) -> None:
    raw = f"---\n{front}---\nBody\n".encode()
    # The front text starts with the newline that ends the opening `---`.
    assert repr(read_front_matter("a.md", raw).data) == repr(pure_python_load("\n" + front))


@pytest.mark.parametrize(
    "front",
    ["title: [unclosed\n", "title: a\n  bad: indent\n", "a: b\n\tc: tab\n", "title: \"open\n",
     "- list\nkey: value\n", "a: 1\nb: [x\nc: 3\n", "a: &x 1\nb: *y\n"],
)  # fmt: skip
def test_bad_yaml_is_reported_at_the_line_the_pure_python_loader_named(front: str) -> None:
    raw = f"---\n{front}---\nBody\n".encode()
    with pytest.raises(yaml.YAMLError) as reference:
        pure_python_load("\n" + front)
    with pytest.raises(ContentError) as error:
        read_front_matter("a.md", raw)
    mark = getattr(reference.value, "problem_mark", None)
    assert error.value.line == (mark.line + 1 if mark else 1)
