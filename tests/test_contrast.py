"""The contrast checker (tests/contrast.py), and the site's stylesheet held to WCAG AA with it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REPO
from tests.contrast import (
    AA_TEXT,
    Colour,
    colour_schemes,
    contrast_ratio,
    css_rules,
    parse_colour,
    resolve_variables,
)

SITE_CSS = REPO / "templates" / "web" / "site.css"
# The surfaces text lies on when its rule sets no background: the page and the cards.
PAGE_SURFACES = ("--paper", "--card")


@pytest.mark.parametrize(
    ("foreground", "background", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#fff", "#fff", 1.0),
        ("#777777", "#ffffff", 4.48),  # WCAG's well-known just-failing grey
        ("rgb(118, 118, 118)", "white", 4.54),  # and the just-passing one
        ("#767676", "rgb(255 255 255 / 100%)", 4.54),
        ("rgba(0, 0, 0, 0.5)", "#ffffff", 3.98),  # half-transparent black: grey 127.5 on white
    ],
)
def test_contrast_ratio_matches_known_values(
    foreground: str, background: str, ratio: float
) -> None:
    assert contrast_ratio(foreground, background) == pytest.approx(ratio, abs=0.01)


@pytest.mark.parametrize(
    "text", ["", "#12", "#1234567", "rgb(1, 2)", "rgb(300, 0, 0)", "red", "#ggg"]
)
def test_unknown_colour_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"colour|range"):
        parse_colour(text)


def test_short_hex_and_alpha_are_read() -> None:
    assert parse_colour("#0f08") == Colour(0, 255, 0, 136 / 255)
    assert parse_colour("rgba(10%, 20%, 30%, 50%)") == Colour(25.5, 51, 76.5, 0.5)


channel = st.integers(0, 255)


@given(st.tuples(channel, channel, channel), st.tuples(channel, channel, channel))
def test_contrast_is_symmetric_and_between_1_and_21(
    one: tuple[int, int, int], other: tuple[int, int, int]
) -> None:
    first, second = (f"rgb({r}, {g}, {b})" for r, g, b in (one, other))
    ratio = contrast_ratio(first, second)
    assert 1.0 <= ratio <= 21.0 + 1e-9
    assert ratio == pytest.approx(contrast_ratio(second, first))


def site_text_pairs(css: str | None = None) -> list[tuple[str, str, str]]:
    """(selector, text colour, background) for every rule of `css` (by default site.css in light
    mode) that sets a text colour.

    A rule's own background counts; else the background of the rule its selector starts in
    (`.error-summary a` lies on `.error-summary`); else both page surfaces.
    """
    if css is None:
        css = colour_schemes(SITE_CSS.read_text(encoding="utf-8"))["light"]
    rules = css_rules(css)
    variables = {
        name: value for _, body in rules for name, value in body.items() if name.startswith("--")
    }

    def background(body: dict[str, str]) -> str | None:
        value = body.get("background-color") or body.get("background")
        if value is None:
            return None
        resolved = resolve_variables(value, variables)
        try:
            parse_colour(resolved)
        except ValueError:
            return None
        return resolved

    backgrounds = {
        selector: found for selector, body in rules if (found := background(body)) is not None
    }
    pairs = []
    for selectors, body in rules:
        if "color" not in body:
            continue
        colour = resolve_variables(body["color"], variables)
        for selector in (s.strip() for s in selectors.split(",")):
            own = background(body)
            container = backgrounds.get(selector.split()[0]) if " " in selector else None
            surfaces = (
                [own]
                if own
                else [container]
                if container
                else [variables[s] for s in PAGE_SURFACES]
            )
            pairs += [(selector, colour, surface) for surface in surfaces]
    return pairs


def test_site_css_is_read_into_many_text_colour_pairs() -> None:
    pairs = site_text_pairs()
    assert len(pairs) > 30
    assert (".button", "#ffffff", "#0d4f6b") in pairs
    assert (".error-summary a", "#a4262c", "#fbeeee") in pairs


def weak_pairs(css: str | None = None) -> list[tuple[str, str, str, float]]:
    return [
        (selector, colour, surface, round(contrast_ratio(colour, surface), 2))
        for selector, colour, surface in site_text_pairs(css)
        if contrast_ratio(colour, surface) < AA_TEXT
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_colour_of_the_site_css_has_at_least_aa_contrast(scheme: str) -> None:
    css = colour_schemes(SITE_CSS.read_text(encoding="utf-8"))[scheme]
    assert len(site_text_pairs(css)) > 30
    assert weak_pairs(css) == []


def test_dark_mode_sets_its_own_page_and_text_colours() -> None:
    schemes = colour_schemes(SITE_CSS.read_text(encoding="utf-8"))
    light, dark = (
        {name: value for _, body in css_rules(schemes[scheme]) for name, value in body.items()}
        for scheme in ("light", "dark")
    )
    for variable in ("--paper", "--card", "--ink", "--muted", "--accent"):
        assert light[variable] != dark[variable], variable
    assert contrast_ratio(dark["--ink"], dark["--paper"]) > 12


def test_colour_schemes_unwrap_the_dark_mode_blocks() -> None:
    css = ":root { --ink: #000; }\n@media (prefers-color-scheme: dark) { :root { --ink: #fff; } }"
    schemes = colour_schemes(css)
    assert "#fff" not in schemes["light"]
    assert schemes["dark"].replace(" ", "").endswith(":root{--ink:#fff;}")


def test_weak_text_colours_are_found_on_the_page_in_boxes_and_on_their_own_background() -> None:
    css = """
    :root { --paper: #f4f1eb; --card: #ffffff; --faint: #8a857c; }
    .note { color: var(--faint); }
    .box { background: #0d4f6b; }
    .box a { color: #16212b; }
    .pill { color: #ffffff; background-color: #f2b33d; }
    .fine { color: #16212b; }
    """
    assert [pair[:3] for pair in weak_pairs(css)] == [
        (".note", "#8a857c", "#f4f1eb"),
        (".note", "#8a857c", "#ffffff"),
        (".box a", "#16212b", "#0d4f6b"),
        (".pill", "#ffffff", "#f2b33d"),
    ]
