"""Every text in the digest and the welcome reads at 4.5:1 or more, in light and dark mode.

The colour pairs are taken from the rendered emails (premailer's inlined styles, with the
dark-mode rules of email-dark.css applied over them), so a colour added to a template or the
stylesheet is checked against the background it really sits on.
"""

from __future__ import annotations

from pathlib import Path

import cssutils
import pytest
from lxml import etree

from publisher.config import Config
from publisher.content.articles import PublishedArticle
from publisher.mail.render import (
    EditionInfo,
    Recipient,
    RenderedEdition,
    personalize,
    render_edition,
    template_environment,
)
from publisher.mail.welcome import render_welcome, welcome_digests
from publisher.site.gather import gather
from publisher.store.articles import public_articles
from publisher.store.database import Store
from publisher.templates import BUNDLED_TEMPLATES
from tests.conftest import SAMPLE_NOW, MigratedTemplates, MovableClock, Site
from tests.contrast import Colour, contrast_between, opaque_colour, relative_luminance
from tests.email_contrast import (
    DEFAULT_BACKGROUND,
    DEFAULT_TEXT,
    TextPair,
    dark_mode_rules,
    declarations,
    inherited_colour,
    style_rules,
    text_pairs,
)

WCAG_AA = 4.5
READER = Recipient(
    "Ann", "ann@example.org", "https://gazette.example.org/u/1", "https://gazette.example.org/p/1"
)
DARK_RULES = dark_mode_rules((BUNDLED_TEMPLATES / "email-dark.css").read_text(encoding="utf-8"))


@pytest.fixture
def store_url(tmp_path: Path, migrated_templates: MigratedTemplates) -> str:
    """SQLite only: colours do not depend on the database."""
    return migrated_templates.sqlite_copy(tmp_path / "store.db")


@pytest.fixture
def articles(site: Site, store: Store, clock: MovableClock) -> list[PublishedArticle]:
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        return public_articles(connection)


def rendered(config: Config, articles: list[PublishedArticle], mode: str) -> RenderedEdition:
    digest = config.digest("daily").model_copy(update={"mode": mode})
    edition = EditionInfo(14, SAMPLE_NOW, f"{config.archive_url}daily/14.html")
    return render_edition(template_environment(None), config, digest, edition, articles[:4])


def every_email(site: Site, articles: list[PublishedArticle]) -> dict[str, str]:
    """The daily digest (summaries), an "each" digest (whole bodies), its archive copy and the
    welcome."""
    config = site.config()
    summaries, bodies = rendered(config, articles, "summary"), rendered(config, articles, "each")
    welcome = render_welcome(
        template_environment(None),
        config,
        "Ann",
        "ann@example.org",
        welcome_digests(config, ["daily", "culture"], {"daily": "https://x.example/1"}),
        "https://gazette.example.org/p/1",
    )
    return {
        "summaries": personalize(summaries, READER)[0],
        "bodies": personalize(bodies, READER)[0],
        "archive": summaries.archive_html,
        "welcome": welcome.html,
    }


def too_faint(pairs: list[TextPair]) -> list[str]:
    return [
        f"{pair.where} {pair.text!r}: {pair.ratio:.2f}:1 ({pair.colour} on {pair.background})"
        for pair in pairs
        if pair.ratio < WCAG_AA
    ]


# The checker itself, against WCAG's own figures.


def test_black_on_white_is_21_to_1_and_a_colour_on_itself_1_to_1() -> None:
    assert contrast_between(Colour(0, 0, 0), Colour(255, 255, 255)) == pytest.approx(21)
    assert contrast_between(Colour(255, 255, 255), Colour(0, 0, 0)) == pytest.approx(21)
    assert contrast_between(Colour(119, 115, 107), Colour(119, 115, 107)) == pytest.approx(1)


def test_the_grey_at_the_aa_threshold_passes_and_the_next_lighter_one_fails() -> None:
    # #767676 on white is the lightest grey that meets 4.5:1; #777777 is not.
    assert contrast_between(Colour(0x76, 0x76, 0x76), Colour(255, 255, 255)) == pytest.approx(
        4.54, abs=0.01
    )
    assert contrast_between(Colour(0x77, 0x77, 0x77), Colour(255, 255, 255)) < WCAG_AA


def test_relative_luminance_of_pure_primaries() -> None:
    assert relative_luminance(Colour(255, 0, 0)) == pytest.approx(0.2126)
    assert relative_luminance(Colour(0, 255, 0)) == pytest.approx(0.7152)
    assert relative_luminance(Colour(0, 0, 255)) == pytest.approx(0.0722)


@pytest.mark.parametrize(
    ("value", "colour"),
    [
        ("#abc", Colour(0xAA, 0xBB, 0xCC)),
        ("#16212B", Colour(0x16, 0x21, 0x2B)),
        ("rgb(1, 2, 3)", Colour(1, 2, 3)),
        ("rgba(1, 2, 3, 1)", Colour(1, 2, 3)),
        ("#6b675f !important", Colour(0x6B, 0x67, 0x5F)),
        ("white", Colour(255, 255, 255)),
        ("rgba(1, 2, 3, 0.5)", None),
        ("transparent", None),
    ],
)
def test_colours_are_read_in_every_form_the_css_uses(value: str, colour: Colour | None) -> None:
    assert opaque_colour(value) == colour


def test_the_checker_finds_the_old_footer_and_postal_address() -> None:
    old = (
        '<html><body style="background-color:#f2efe9"><p style="color:#77736b">Footer</p>'
        '<p style="color:#99948a">4 Quay Street</p><p>Plain</p></body></html>'
    )
    ratios = {pair.text: round(pair.ratio, 1) for pair in text_pairs(old)}
    assert ratios == {"Footer": 4.1, "4 Quay Street": 2.6, "Plain": 18.3}


# The emails.


def test_every_text_of_every_email_is_at_least_4_5_to_1_in_light_mode(
    site: Site, articles: list[PublishedArticle]
) -> None:
    for name, html in every_email(site, articles).items():
        pairs = text_pairs(html)
        assert len(pairs) > 10, name
        assert too_faint(pairs) == [], name


def test_every_text_of_every_email_is_at_least_4_5_to_1_in_dark_mode(
    site: Site, articles: list[PublishedArticle]
) -> None:
    assert len(DARK_RULES) > 20
    for name, html in every_email(site, articles).items():
        pairs = text_pairs(html, DARK_RULES)
        assert len(pairs) > 10, name
        assert too_faint(pairs) == [], name
        # Dark mode is dark: every text sits on a dark background and is lighter than it.
        for pair in pairs:
            if pair.where.startswith("<img class='logo'"):
                continue  # the logo's own pixels, not its alt text, are what shows
            assert relative_luminance(pair.background) < 0.02, (name, pair)
            assert relative_luminance(pair.colour) > relative_luminance(pair.background)


def test_outlook_dark_mode_rules_give_the_same_colours_as_the_dark_mode_rules() -> None:
    dark = dict(DARK_RULES)
    outlook = style_rules(
        cssutils.parseString(
            (BUNDLED_TEMPLATES / "email-outlook.css").read_text(encoding="utf-8"),
            validate=False,
        )
    )
    assert len(outlook) > 15
    for selector, properties in outlook:
        marker, _, plain = selector.partition(" ")
        assert marker in ("[data-ogsc]", "[data-ogsb]"), selector
        wanted = "color" if marker == "[data-ogsc]" else "background-color"
        assert set(properties) == {wanted}, selector
        assert properties[wanted] == dark[plain][wanted], selector


def test_the_preheader_is_not_written_in_its_background_colour(
    site: Site, articles: list[PublishedArticle]
) -> None:
    root = etree.fromstring(every_email(site, articles)["summaries"], etree.HTMLParser())
    preheader = root.xpath("//div[@class='preheader']")[0]
    assert "color" not in declarations(preheader.get("style"))
    colour = inherited_colour(preheader, "color") or DEFAULT_TEXT
    background = inherited_colour(preheader, "background-color") or DEFAULT_BACKGROUND
    assert contrast_between(colour, background) >= WCAG_AA
