"""Digest rendering: templates, CSS inlining without network, render once and personalize."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cssutils
import premailer
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml.cssselect import CSSSelector

from publisher.analytics.links import link_placeholder, open_placeholder
from publisher.config import Config, DigestConfig
from publisher.content.articles import PublishedArticle
from publisher.content.typography import typeset_text
from publisher.mail.render import (
    END_IF,
    IF_NAME,
    LEGACY_KEY,
    OTHERWISE,
    PLACEHOLDERS,
    DigestError,
    EditionInfo,
    Recipient,
    RenderedEdition,
    format_date,
    inline_css,
    link_key_of,
    personalize,
    render_edition,
    render_for_recipient,
    render_subject,
    template_environment,
)
from publisher.site.gather import gather
from publisher.store.articles import public_articles
from publisher.store.database import Store
from publisher.templates import BUNDLED_TEMPLATES
from tests.conftest import SAMPLE_NOW, MigratedTemplates, MovableClock, Site

HOSTILE_TITLE = "<script>alert(1)</script> ]]> &amp; \"double\" 'single' שלום עולם 🌊"
HOSTILE_SUMMARY = "</p><img src=x onerror=alert(1)> ]]> &lt; \"q\" 'a' مرحبا بالعالم 🚀"
# Summaries are set in type when gathered: curly quotes for straight ones.
TYPESET_SUMMARY = typeset_text(HOSTILE_SUMMARY)
HOSTILE_ARTICLE = f"""---
title: '{HOSTILE_TITLE.replace("'", "''")}'
summary: '{HOSTILE_SUMMARY.replace("'", "''")}'
date: 2026-11-24T09:00:00Z
author: "Dr <b>Evil</b> & Co"
categories: [News]
---

Body text.
"""

RECIPIENTS = [
    Recipient(
        'O\'Brien <b>&amp; "Co"',
        "obrien@example.org",
        "https://gazette.example.org/unsubscribe/01-obrien?list=daily&sig=a%2Fb",
    ),
    Recipient("Zoë Ångström-Müller", "zoe@exämple.de", "https://gazette.example.org/u/02-zoe~x"),
    Recipient("山田 太郎", "taro@例え.jp", "https://gazette.example.org/u/03-taro;v=(1)*"),
    Recipient(
        "Sam 🦊 👩🏽‍💻", "sam+digest@example.org", "https://gazette.example.org/u/04-sam#top"
    ),
    Recipient("", "nameless@example.org", "https://gazette.example.org/u/05-nameless"),
    Recipient(
        "  Line\r\nbreak\tand\x00nul\x07bell\x85 ",
        "ctrl@example.org",
        "https://gazette.example.org/u/06-ctrl",
    ),
    Recipient(
        "]]> --> <!-- <script>alert(1)</script>",
        "<script>@example.org",
        "https://gazette.example.org/u/07-script",
    ),
    Recipient("مرحبا \u202eevil\u202c", "rtl@example.org", "https://gazette.example.org/u/08-rtl"),
    Recipient("&nbsp;\u00a0&#39; \u200bzero", "nbsp@example.org", "http://127.0.0.1/u/09-nbsp"),
]


# Any character, with markup and whitespace drawn often enough to matter.
MARKUP_HEAVY = st.one_of(st.sampled_from("<>&;#\"'=/!-[] \t\r\n\x00\xa0"), st.characters())


@pytest.fixture
def store_url(tmp_path: Path, migrated_templates: MigratedTemplates) -> str:
    """SQLite only: rendering reads values, so the store's database makes no difference here."""
    return migrated_templates.sqlite_copy(tmp_path / "store.db")


@pytest.fixture
def config(site: Site) -> Config:
    return site.config()


@pytest.fixture
def articles(site: Site, store: Store, clock: MovableClock) -> list[PublishedArticle]:
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        return public_articles(connection)


@pytest.fixture
def daily(config: Config) -> DigestConfig:
    return config.digest("daily")


@pytest.fixture
def edition(config: Config) -> EditionInfo:
    return EditionInfo(number=14, date=SAMPLE_NOW, archive_url=f"{config.archive_url}daily/14.html")


@pytest.fixture
def rendered(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> RenderedEdition:
    note = '<p>Good morning: the <a href="https://gazette.example.org/">editor\'s</a> note.</p>'
    return render_edition(
        template_environment(None, config.site.language), config, daily, edition, articles, note
    )


@pytest.fixture
def hostile_articles(site: Site, store: Store, clock: MovableClock) -> list[PublishedArticle]:
    site.write_article("news/hostile.md", HOSTILE_ARTICLE)
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        return public_articles(connection)


@pytest.fixture
def loopback() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving CSS; yields its base URL and the paths requested."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"p { color: red }")

        def log_message(self, *arguments: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def parse(html: str) -> etree._Element:
    return etree.fromstring(html, etree.HTMLParser())


def words(text: str) -> str:
    return " ".join(text.split())


def site_templates(site: Site, files: dict[str, str]) -> Path:
    folder = site.root / "templates"
    folder.mkdir(exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(source, encoding="utf-8")
    return folder


def escaped(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# The HTML part: inlined, table-based, at most 600px wide.


def test_edition_html_loads_no_stylesheet_and_keeps_only_the_media_queries(
    rendered: RenderedEdition,
) -> None:
    for html in (rendered.html, rendered.archive_html):
        root = parse(html)
        assert not root.xpath("//link")
        styles = root.xpath("//style")
        assert len(styles) == 3
        assert "@media" in styles[0].text
        assert "@import" not in styles[0].text
        # What remains is only what cannot be inlined: media queries, :root and :hover.
        leftover = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*\s*\}", "", styles[0].text)
        leftover = re.sub(r"\s*:root\s*\{[^}]*\}", "", leftover)
        assert re.fullmatch(r"(\s*a:hover\s*\{[^}]*\})?\s*", leftover)
        # The dark-mode blocks are kept as written, never inlined.
        for style, name in zip(styles[1:], ("email-dark.css", "email-outlook.css"), strict=True):
            kept = (BUNDLED_TEMPLATES / name).read_text(encoding="utf-8")
            assert style.text.strip() == kept.strip()
            assert style.get("data-premailer") is None


def test_every_element_the_stylesheet_styles_carries_an_inline_style(
    rendered: RenderedEdition,
) -> None:
    sheet = cssutils.parseString((BUNDLED_TEMPLATES / "email.css").read_text(encoding="utf-8"))
    selectors = [
        selector.selectorText
        for rule in sheet
        if rule.type == rule.STYLE_RULE
        for selector in rule.selectorList
        # Article bodies are shown by digests in "each" mode only, not by the daily one.
        if ":" not in selector.selectorText and ".article-body" not in selector.selectorText
    ]
    assert len(selectors) > 20
    for html in (rendered.html, rendered.archive_html):
        root = parse(html)
        for selector in selectors:
            matched = CSSSelector(selector)(root)
            # The archive copy has no "view in browser" link, so `.toolbar a` styles nothing.
            assert matched or html is rendered.archive_html, f"{selector} styles nothing"
            for element in matched:
                assert element.get("style"), f"{selector} matches unstyled <{element.tag}>"


def test_edition_html_is_at_most_600_pixels_wide(rendered: RenderedEdition) -> None:
    root = parse(rendered.html)
    widths = [int(width) for width in root.xpath("//@width") if width.isdigit()]
    assert widths
    assert max(widths) <= 600
    for style in root.xpath("//@style"):
        for pixels in re.findall(r"(?:^|;)\s*(?:max-)?width:\s*(\d+)px", style):
            assert int(pixels) <= 600
    container = root.xpath("//table[contains(@class, 'container')]")[0]
    assert "max-width:600px" in container.get("style")
    # Outlook ignores max-width: a conditional comment gives it a fixed 600px table.
    assert '<!--[if mso]><table role="presentation" align="center" width="600"' in rendered.html
    assert all(table.get("role") == "presentation" for table in root.iter("table"))
    assert not re.search(r"display:\s*(flex|grid)", rendered.html)


def test_every_image_has_alt_text_a_pixel_width_and_is_a_block(
    rendered: RenderedEdition, articles: list[PublishedArticle]
) -> None:
    images = parse(rendered.html).xpath("//img")
    heroes = parse(rendered.html).xpath("//img[@class='hero' or @class='thumb']")
    shown = articles[:10]  # the daily's max_stories
    assert len(heroes) == sum(1 for published in shown if published.article.image)
    assert len(images) == len(heroes) + 1  # and the masthead's logo
    for image in images:
        assert image.get("alt", "").strip()
        assert image.get("width", "").isdigit()
        assert "display:block" in image.get("style")


def test_preheader_is_the_first_articles_summary_hidden(
    rendered: RenderedEdition, articles: list[PublishedArticle]
) -> None:
    preheader = parse(rendered.html).xpath("//div[@class='preheader']")[0]
    assert preheader.text.startswith(articles[0].article.summary)
    assert "display:none" in preheader.get("style")
    assert "mso-hide:all" in preheader.get("style")


def test_edition_shows_each_article_with_image_link_byline_summary_and_read_more(
    rendered: RenderedEdition, articles: list[PublishedArticle], config: Config
) -> None:
    root = parse(rendered.html)
    articles = articles[:10]  # the daily's max_stories
    headlines = root.xpath("//h2[contains(@class, 'headline')]/a")
    assert [a.text for a in headlines] == [p.article.title for p in articles]
    assert [a.get("href") for a in headlines] == [p.article.url for p in articles]
    bylines = ["".join(p.itertext()) for p in root.xpath("//p[@class='byline']")]
    assert bylines[0] == "By Eilidh Campbell\xa0· 23 November 2026"
    lantern = next(i for i, p in enumerate(articles) if p.article.slug.startswith("lantern"))
    assert bylines[lantern].startswith("By Jonah Whitlock and Tom Reyes\xa0·")
    assert root.xpath("//p[@class='read-more']/a/@href") == [articles[0].article.url]
    assert root.xpath("//td[@class='toolbar']//a/@href") == [f"{config.archive_url}daily/14.html"]
    footer = words("".join(root.xpath("//td[@class='footer']")[0].itertext()))
    assert "Every morning: the stories we published since yesterday." in footer
    assert config.mail is not None
    assert config.mail.postal_address in footer
    assert rendered.stand_ins.placeholders.email in footer


def test_byline_dates_are_the_sites_even_in_a_digest_of_another_timezone(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    # The dark sky article went out at 21:30 UTC on 23 November: 24 November in Auckland, but
    # the article page (in the site's zone, London) says 23 November, and so does the email.
    auckland = daily.model_copy(update={"timezone": "Pacific/Auckland"})
    rendered = render_edition(
        template_environment(None, config.site.language), config, auckland, edition, articles
    )
    byline = "".join(parse(rendered.html).xpath("//p[@class='byline']")[0].itertext())
    assert byline.endswith("23 November 2026")
    assert "By Eilidh Campbell · 23 November 2026" in rendered.text


def test_unsubscribe_placeholder_is_in_both_parts(rendered: RenderedEdition) -> None:
    root = parse(rendered.html)
    placeholder = rendered.stand_ins.placeholders.unsubscribe_url
    assert root.xpath("//a[text()='Unsubscribe']/@href") == [placeholder]
    assert placeholder in rendered.text


# The text part.


def test_text_part_holds_every_articles_title_byline_summary_and_url(
    rendered: RenderedEdition, articles: list[PublishedArticle]
) -> None:
    text = rendered.text
    for published in articles[:10]:  # the daily's max_stories
        article = published.article
        assert article.title in words(text)
        assert article.summary in words(text)
        assert f"\n{article.url}\n" in text
        assert f"By {article.authors[0].name}" in text
    assert "View in your browser:\nhttps://gazette.example.org/archive/daily/14.html\n" in text


def test_text_part_wraps_prose_at_72_columns(rendered: RenderedEdition) -> None:
    _, text = personalize(rendered, RECIPIENTS[1])
    for line in text.splitlines():
        if not line.startswith("http") and RECIPIENTS[1].email not in line:
            assert len(line) <= 72, line


# Hostile article text.


def test_hostile_article_text_is_escaped_in_html_and_intact_in_text(
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    hostile_articles: list[PublishedArticle],
) -> None:
    assert hostile_articles[0].article.title == HOSTILE_TITLE
    rendered = render_edition(
        template_environment(None, config.site.language), config, daily, edition, hostile_articles
    )
    html, text = personalize(rendered, RECIPIENTS[0])
    for document in (html, rendered.archive_html):
        root = parse(document)
        assert not root.xpath("//script")
        assert not root.xpath("//img[@onerror]")
        assert root.xpath("//h2[contains(@class, 'headline')]/a")[0].text == HOSTILE_TITLE
        assert root.xpath("//p[contains(@class, 'summary')]")[0].text == TYPESET_SUMMARY
        assert root.xpath("//div[@class='preheader']")[0].text.startswith(TYPESET_SUMMARY)
        byline = "".join(root.xpath("//p[@class='byline']")[0].itertext())
        assert byline == "By Dr <b>Evil</b> & Co\xa0· 24 November 2026"
        assert "<script>" not in document
    assert HOSTILE_TITLE in words(text)
    assert TYPESET_SUMMARY in words(text)
    assert "By Dr <b>Evil</b> & Co · 24 November 2026" in text


# Render once, personalize per subscriber.


@pytest.mark.parametrize("recipient", RECIPIENTS, ids=lambda r: r.unsubscribe_url.split("/")[-1])
def test_personalized_edition_equals_a_full_render_for_that_subscriber(
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    hostile_articles: list[PublishedArticle],
    recipient: Recipient,
) -> None:
    environment = template_environment(None, config.site.language)
    rendered = render_edition(environment, config, daily, edition, hostile_articles)
    full_html, full_text = render_for_recipient(
        environment, config, daily, edition, hostile_articles, recipient
    )
    html, text = personalize(rendered, recipient)
    assert html == full_html
    assert text == full_text


def test_each_personalized_edition_holds_its_own_unsubscribe_url_and_no_other(
    rendered: RenderedEdition,
) -> None:
    for recipient in RECIPIENTS:
        html, text = personalize(rendered, recipient)
        root = parse(html)
        assert root.xpath("//a[text()='Unsubscribe']/@href") == [recipient.unsubscribe_url]
        assert f"\n{recipient.unsubscribe_url}\n" in text
        for other in RECIPIENTS:
            if other is not recipient:
                assert escaped(other.unsubscribe_url) not in html
                assert other.unsubscribe_url not in text
        for placeholder in rendered.stand_ins.reserved:
            assert placeholder not in html
            assert placeholder not in text


def test_subscriber_name_and_email_are_shown_in_both_parts(rendered: RenderedEdition) -> None:
    html, text = personalize(rendered, RECIPIENTS[0])
    assert 'sent to O\'Brien &lt;b&gt;&amp;amp; "Co" at obrien@example.org because' in html
    assert 'O\'Brien <b>&amp; "Co" <obrien@example.org>\n' in text


def test_subscriber_without_a_name_gets_the_wording_without_one(
    rendered: RenderedEdition,
) -> None:
    # The bundled templates test `subscriber.name`, so the edition carries both wordings.
    assert rendered.stand_ins.if_name in rendered.html
    assert rendered.stand_ins.if_name in rendered.text
    html, text = personalize(rendered, RECIPIENTS[4])
    assert "This email was sent to nameless@example.org because" in html
    assert "\nnameless@example.org\n" in text
    assert " at nameless@example.org" not in html


def test_subscriber_named_like_a_placeholder_gets_only_their_own_values(
    rendered: RenderedEdition,
) -> None:
    own = rendered.stand_ins
    sly = Recipient(
        f"{own.placeholders.email} {own.if_name}",
        f"{own.placeholders.unsubscribe_url}@example.org",
        "https://gazette.example.org/u/10-sly",
    )
    html, text = personalize(rendered, sly)
    assert f"{sly.name} <{sly.email}>\n" in text
    assert f"sent to {sly.name} at {sly.email} because" in html


def test_each_edition_has_its_own_unguessable_placeholders(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    environment = template_environment(None, config.site.language)
    one = render_edition(environment, config, daily, edition, articles)
    other = render_edition(environment, config, daily, edition, articles)
    assert one.key != other.key
    assert one.key != LEGACY_KEY
    assert LEGACY_KEY not in one.html + one.text
    assert len(one.key) == 16


@pytest.mark.parametrize("where", ["title", "summary"])
def test_article_holding_any_placeholder_text_is_shown_as_written(
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
    where: str,
) -> None:
    # Item 11 of issue 20: these made every `digest create` fail ("reserved text").
    sneaky = (
        f"Mail {PLACEHOLDERS.email} {IF_NAME} {OTHERWISE} {END_IF} "
        f"{PLACEHOLDERS.unsubscribe_url} {link_placeholder(0)} {open_placeholder()} now"
    )
    first = articles[0]
    planted = dataclasses.replace(
        first, article=dataclasses.replace(first.article, **{where: sneaky})
    )
    rendered = render_edition(
        template_environment(None, config.site.language), config, daily, edition, [planted]
    )
    html, text = personalize(rendered, RECIPIENTS[0])
    for word in sneaky.split():
        assert word in text  # the text part wraps long lines
        assert escaped(word) in html


def test_an_edition_stored_with_the_old_shared_key_still_personalizes(
    rendered: RenderedEdition,
) -> None:
    own = rendered.stand_ins
    old = RenderedEdition(
        rendered.subject,
        *(
            body.replace(own.key, LEGACY_KEY).replace(link_key_of(own.key), LEGACY_KEY)
            for body in (rendered.html, rendered.text)
        ),
        rendered.archive_html,
    )
    assert old.key == LEGACY_KEY
    for recipient in RECIPIENTS:
        assert personalize(old, recipient) == personalize(rendered, recipient)


def test_edition_stored_as_its_five_strings_personalizes_the_same(
    rendered: RenderedEdition,
) -> None:
    subject, html, text, archive = (
        rendered.subject,
        rendered.html,
        rendered.text,
        rendered.archive_html,
    )
    stored = RenderedEdition(subject, html, text, archive, key=rendered.key)
    for recipient in RECIPIENTS:
        assert personalize(stored, recipient) == personalize(rendered, recipient)


def test_line_breaks_and_control_characters_in_a_name_cannot_break_a_line(
    rendered: RenderedEdition,
) -> None:
    html, text = personalize(rendered, RECIPIENTS[5])
    # Line breaks and tabs become spaces; NUL and BEL are dropped.
    assert "\nLine break andnulbell <ctrl@example.org>\n" in text
    assert "sent to Line break andnulbell at ctrl@example.org" in html


@pytest.fixture
def short_edition(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> tuple[list[PublishedArticle], RenderedEdition]:
    """A two-article edition rendered once, for property tests to personalize many times."""
    short = articles[:2]
    return short, render_edition(
        template_environment(None, config.site.language), config, daily, edition, short
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(MARKUP_HEAVY, max_size=30),
    email=st.text(MARKUP_HEAVY, max_size=30),
    path=st.from_regex(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]{0,30}", fullmatch=True),
)
def test_personalize_equals_a_full_render_for_any_subscriber(
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    short_edition: tuple[list[PublishedArticle], RenderedEdition],
    name: str,
    email: str,
    path: str,
) -> None:
    articles, rendered = short_edition
    recipient = Recipient(name, email, f"https://example.org/{path}")
    environment = template_environment(None, config.site.language)
    full = render_for_recipient(environment, config, daily, edition, articles, recipient)
    assert personalize(rendered, recipient) == full


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/u/it's",
        'https://example.org/u/"x"',
        "https://example.org/u/a b",
        "https://example.org/u/<x>",
        "https://example.org/u/é",
        "javascript:alert(1)",
        "/u/relative",
    ],
)
def test_unsubscribe_url_that_cannot_be_filled_in_exactly_is_refused(url: str) -> None:
    with pytest.raises(DigestError, match="unsubscribe URL"):
        Recipient("Jane", "jane@example.org", url)


def test_archive_copy_holds_no_personal_data(rendered: RenderedEdition) -> None:
    archive = rendered.archive_html
    for placeholder in rendered.stand_ins.reserved:
        assert placeholder not in archive
    for recipient in RECIPIENTS:
        html, _ = personalize(rendered, recipient)
        shown_email = escaped(" ".join(recipient.email.split()))
        assert shown_email in html
        assert shown_email not in archive
        assert escaped(recipient.unsubscribe_url) not in archive
        if recipient.name.strip():
            assert escaped(" ".join(recipient.name.split())) not in archive
    assert "unsubscribe" not in archive.lower()
    assert "This email was sent to" not in archive
    assert "You are reading the web edition of The Harbour Gazette Daily No. 14" in words(
        "".join(parse(archive).itertext())
    )


# Templates: site folder first, then the bundled one.


def test_site_stylesheet_is_used_before_the_bundled_one(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
) -> None:
    folder = site_templates(site, {"email.css": ".site-title { color: #123456 }"})
    rendered = render_edition(template_environment(folder), config, daily, edition, articles)
    title = parse(rendered.html).xpath("//h1")[0]
    assert title.get("style") == "color:#123456"
    assert "#16212b" not in rendered.html


def test_site_text_template_set_in_config_is_used_before_the_bundled_one(
    site: Site,
    edition: EditionInfo,
    articles: list[PublishedArticle],
) -> None:
    site_templates(
        site,
        {
            "digest.txt.j2": "Our own words, {{ subscriber.name }}.\n"
            "{% for p in articles %}* {{ p.article.title }}\n{% endfor %}"
            "Leave: {{ subscriber.unsubscribe_url }}\n"
        },
    )
    with site.config_path.open("a", encoding="utf-8") as file:
        file.write('\n[templates]\ndir = "templates"\n')
    config = site.config()
    assert config.templates_dir == site.root / "templates"
    environment = template_environment(config.templates_dir)
    rendered = render_edition(environment, config, config.digest("daily"), edition, articles)
    _, text = personalize(rendered, RECIPIENTS[1])
    assert text.startswith("Our own words, Zoë Ångström-Müller.\n* Hesketh Island bids")
    assert text.endswith("Leave: https://gazette.example.org/u/02-zoe~x\n")
    assert "<h1" in rendered.html


def test_missing_site_templates_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DigestError, match="templates folder not found"):
        template_environment(tmp_path / "nowhere")


def test_template_error_names_the_template_file_and_line(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
) -> None:
    folder = site_templates(site, {"digest.txt.j2": "One\nTwo\n{{ subscriber.nickname }}\n"})
    with pytest.raises(DigestError) as caught:
        render_edition(template_environment(folder), config, daily, edition, articles)
    assert f"{folder / 'digest.txt.j2'}:3:" in str(caught.value)
    assert "nickname" in str(caught.value)


def test_template_syntax_error_names_the_template_file_and_line(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
) -> None:
    folder = site_templates(site, {"digest.html.j2": "<p>\n{% if %}\n</p>\n"})
    with pytest.raises(DigestError, match=re.escape(f"{folder / 'digest.html.j2'}:2:")):
        render_edition(template_environment(folder), config, daily, edition, articles)


def test_subscriber_value_in_an_attribute_is_refused(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
) -> None:
    folder = site_templates(
        site,
        {
            "digest.html.j2": "<!DOCTYPE html><html><body>"
            '<img src="x.png" alt="{{ subscriber.name if subscriber else "" }}">'
            '<a href="{{ subscriber.unsubscribe_url if subscriber else "" }}">Unsubscribe</a>'
            "</body></html>"
        },
    )
    with pytest.raises(DigestError, match=r"subscriber\.name may only be shown as text"):
        render_edition(template_environment(folder), config, daily, edition, articles)


def test_subscriber_value_through_a_filter_is_refused(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
) -> None:
    folder = site_templates(
        site, {"digest.txt.j2": "{{ subscriber.name | upper }}\n{{ subscriber.unsubscribe_url }}\n"}
    )
    with pytest.raises(DigestError, match=r"digest\.txt\.j2: subscriber values may not go"):
        render_edition(template_environment(folder), config, daily, edition, articles)


def test_template_without_an_unsubscribe_link_is_refused(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
) -> None:
    folder = site_templates(site, {"digest.html.j2": "<!DOCTYPE html><html><body>Hi</body></html>"})
    with pytest.raises(DigestError, match=r"digest\.html\.j2: no unsubscribe link"):
        render_edition(template_environment(folder), config, daily, edition, articles)


# No network while inlining.


def test_unguarded_premailer_fetches_an_import_even_with_network_off(
    loopback: tuple[str, list[str]],
) -> None:
    """The control for the tests below: the loopback server does see what premailer fetches."""
    base, requests = loopback
    html = (
        f"<html><head><style>@import url({base}/x.css);</style></head><body><p>x</p></body></html>"
    )
    premailer.Premailer(html, allow_network=False).transform()
    assert requests == ["/x.css"]


def test_import_in_a_site_template_is_refused_without_any_request(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
    loopback: tuple[str, list[str]],
) -> None:
    base, requests = loopback
    folder = site_templates(
        site,
        {
            "digest.html.j2": "<!DOCTYPE html><html><head>"
            f"<style>@import url({base}/x.css); p {{ margin: 0 }}</style></head>"
            "<body><p>Hi</p></body></html>"
        },
    )
    with pytest.raises(DigestError) as caught:
        render_edition(template_environment(folder), config, daily, edition, articles)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'digest.html.j2'}: @import of '{base}/x.css'")
    assert "refused" in message
    assert requests == []


def test_import_in_the_site_stylesheet_is_refused_without_any_request(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
    loopback: tuple[str, list[str]],
) -> None:
    base, requests = loopback
    folder = site_templates(site, {"email.css": f"@\\69mport '{base}/escaped.css';\n"})
    with pytest.raises(
        DigestError, match=r"@import of '.*/escaped\.css' in a <style> block .* is refused"
    ):
        render_edition(template_environment(folder), config, daily, edition, articles)
    assert requests == []


def test_stylesheet_link_in_a_site_template_is_refused_without_any_request(
    site: Site,
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
    loopback: tuple[str, list[str]],
) -> None:
    base, requests = loopback
    folder = site_templates(
        site,
        {
            "digest.html.j2": "<!DOCTYPE html><html><head>"
            f"<link rel=stylesheet href={base}/y.css></head>"
            "<body><p>Hi</p></body></html>"
        },
    )
    with pytest.raises(DigestError) as caught:
        render_edition(template_environment(folder), config, daily, edition, articles)
    message = str(caught.value)
    assert message.startswith(f'{folder / "digest.html.j2"}: <link rel="stylesheet" href="{base}')
    assert requests == []


def test_inline_css_refuses_imports_that_cssutils_would_fetch_and_drop(
    loopback: tuple[str, list[str]],
) -> None:
    base, requests = loopback
    # An @import after a rule is invalid CSS, but cssutils still fetches it before dropping it.
    html = f"<html><head><style>p {{}} @import url({base}/late.css);</style></head></html>"
    with pytest.raises(DigestError, match=r"^test\.html: @import of '.*/late\.css'"):
        inline_css(html, origin="test.html")
    assert requests == []


def test_inline_css_moves_rules_into_style_attributes_and_keeps_media_queries() -> None:
    html = (
        "<!DOCTYPE html><html><head><style>p { color: red } "
        "@media (max-width: 599px) { p { color: blue } }</style></head>"
        '<body><p>x</p><img src="a.png" width="536" style="width:100%"></body></html>'
    )
    root = parse(inline_css(html))
    assert root.xpath("//p")[0].get("style") == "color:red"
    assert "color: blue !important" in root.xpath("//style")[0].text
    assert root.xpath("//img")[0].get("width") == "536"


# Subject and dates.


def test_subject_shows_the_edition_date_in_the_digests_timezone(
    config: Config, daily: DigestConfig, articles: list[PublishedArticle]
) -> None:
    late = EditionInfo(3, datetime(2026, 11, 25, 23, 30, tzinfo=UTC), "https://x.example/3")
    environment = template_environment(None, config.site.language)
    assert render_subject(environment, config, daily, late, articles) == (
        "The Harbour Gazette: 25 November 2026"
    )
    tokyo = daily.model_copy(update={"timezone": "Asia/Tokyo"})
    assert render_subject(environment, config, tokyo, late, articles) == (
        "The Harbour Gazette: 26 November 2026"
    )


def test_subject_can_name_the_first_article(
    config: Config, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    culture = config.digest("culture")
    subject = render_subject(
        template_environment(None, config.site.language), config, culture, edition, articles
    )
    assert subject == f"Culture this week: {articles[0].article.title}"


@pytest.mark.parametrize(
    ("template", "title"),
    [
        ("News: {{ articles[0].title }}", "Hello\r\nBcc: victim@example.org"),
        ("News: {{ articles[0].title }}", "Hello\nthere"),
        ("News: {{ articles[0].title }}", "Hello\rthere"),
        ("News:{{ '\\n' }} {{ articles[0].title }}", "Hello"),
        ("News: {{ articles[0].title }}", "Hello\u2028there"),
    ],
)
def test_subject_with_a_line_break_is_refused(
    config: Config,
    daily: DigestConfig,
    edition: EditionInfo,
    articles: list[PublishedArticle],
    template: str,
    title: str,
) -> None:
    digest = daily.model_copy(update={"subject": template})
    first = articles[0]
    hostile = dataclasses.replace(first, article=dataclasses.replace(first.article, title=title))
    with pytest.raises(DigestError, match=r"digests\.daily\.subject: .* line break"):
        render_subject(
            template_environment(None, config.site.language), config, digest, edition, [hostile]
        )


def test_subject_with_an_unknown_name_is_refused(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    digest = daily.model_copy(update={"subject": "{{ edition.volume }}"})
    with pytest.raises(DigestError, match=r"digests\.daily\.subject: .*volume"):
        render_subject(
            template_environment(None, config.site.language), config, digest, edition, articles
        )


def test_date_filter_takes_a_pattern_and_a_zone(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    digest = daily.model_copy(
        update={"subject": "{{ edition.date | date('%A %-d %b, %H:%M', zone='America/New_York') }}"}
    )
    subject = render_subject(
        template_environment(None, config.site.language), config, digest, edition, articles
    )
    assert subject == "Wednesday 25 Nov, 07:00"


def test_format_date_has_no_leading_zero_and_refuses_naive_datetimes() -> None:
    assert format_date(datetime(2026, 3, 5, 12, tzinfo=UTC)) == "5 March 2026"
    with pytest.raises(DigestError, match="no zone"):
        format_date(datetime(2026, 3, 5, 12))


def test_edition_needs_an_aware_date_and_articles(
    config: Config, daily: DigestConfig, edition: EditionInfo
) -> None:
    with pytest.raises(DigestError, match="has no zone"):
        EditionInfo(1, datetime(2026, 11, 25, 7, 30), "https://x.example/1")
    with pytest.raises(DigestError, match="no articles"):
        render_edition(template_environment(None, config.site.language), config, daily, edition, [])


# The layout: a lead, compact rows, at most max_stories, labels, the editor's note -------------


def test_email_shows_max_stories_and_links_the_rest_to_the_web_copy_which_shows_all(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    four = daily.model_copy(update={"max_stories": 4})
    rendered = render_edition(
        template_environment(None, config.site.language), config, four, edition, articles
    )
    email = parse(rendered.html)
    assert len(email.xpath("//h2[contains(@class, 'headline')]")) == 4
    assert len(email.xpath("//td[contains(@class, 'lead')]")) == 1
    assert len(email.xpath("//td[contains(concat(' ', @class, ' '), ' row ')]")) == 3
    [more] = email.xpath("//td[contains(@class, 'more')]/a")
    assert (
        words("".join(more.itertext())) == f"{len(articles) - 4} more stories in the web edition →"
    )
    assert more.get("href") == edition.archive_url
    assert f"{len(articles) - 4} more stories in the web edition:" in rendered.text
    assert rendered.text.count("Read more:") == 4
    web_copy = parse(rendered.archive_html)
    assert len(web_copy.xpath("//h2[contains(@class, 'headline')]")) == len(articles)
    assert not web_copy.xpath("//td[contains(@class, 'more')]")


def test_rows_after_the_lead_carry_thumbnails_unless_turned_off(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    environment = template_environment(None, config.site.language)
    rows = parse(render_edition(environment, config, daily, edition, articles).html)
    thumbs = rows.xpath("//img[@class='thumb']")
    assert len(thumbs) == daily.max_stories - 1  # every sample story has an image
    assert {t.get("width") for t in thumbs} == {"96"}
    assert all(int(t.get("height")) <= 72 for t in thumbs)
    [hero] = rows.xpath("//img[@class='hero']")
    assert hero.get("height") is None  # images blocked: no tall empty box where it would be
    plain = daily.model_copy(update={"thumbnails": False})
    bare = parse(render_edition(environment, config, plain, edition, articles).html)
    assert bare.xpath("//img[@class='thumb']") == []
    assert len(bare.xpath("//img[@class='hero']")) == 1


def test_labels_come_from_the_digests_own_categories(
    config: Config, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    culture = config.digest("culture")
    chosen = [p for p in articles if any(c.slug == "culture" for c in p.article.categories)]
    filed_elsewhere = [p for p in chosen if p.article.categories[0].slug != "culture"]
    assert filed_elsewhere  # an article whose first category is another
    rendered = render_edition(
        template_environment(None, config.site.language), config, culture, edition, chosen
    )
    kickers = {
        words("".join(k.itertext())) for k in parse(rendered.html).xpath("//p[@class='kicker']")
    }
    assert kickers == {"Culture"}
    assert "[CULTURE]" in rendered.text
    assert "[SCIENCE]" not in rendered.text


def test_editor_note_is_shown_atop_the_edition_sanitized(
    config: Config, daily: DigestConfig, edition: EditionInfo, articles: list[PublishedArticle]
) -> None:
    note = "<p>Good morning. <em>Three</em> stories today.</p>"
    rendered = render_edition(
        template_environment(None, config.site.language), config, daily, edition, articles, note
    )
    [cell] = parse(rendered.html).xpath("//td[@class='note']")
    assert words("".join(cell.itertext())) == "Good morning. Three stories today."
    assert "Good morning. Three stories today." in rendered.text
    assert rendered.text.index("Good morning.") < rendered.text.index(articles[0].article.title)


def test_the_email_has_a_main_landmark(rendered: RenderedEdition) -> None:
    for document in (rendered.html, rendered.archive_html):
        [main] = parse(document).xpath("//*[@role='main']")
        assert main.xpath(".//h2[contains(@class, 'headline')]")
