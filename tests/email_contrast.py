"""WCAG 2 contrast of the text in an email: colours, luminance, and each text's colour pair.

Pure functions over values: a colour string, an inlined HTML document, a stylesheet. The pairs
come from the email itself, as premailer inlined it, so every piece of text is checked against
the background it actually sits on (the nearest ancestor that paints one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cssutils
from lxml import etree
from lxml.cssselect import CSSSelector

Colour = tuple[int, int, int]

# What a mail client paints when the email sets nothing: black text on white.
DEFAULT_TEXT: Colour = (0, 0, 0)
DEFAULT_BACKGROUND: Colour = (255, 255, 255)
_HEX = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6})")
_RGB = re.compile(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*([\d.]+)\s*)?\)")
_NAMED: dict[str, Colour] = {"black": (0, 0, 0), "white": (255, 255, 255)}


def parse_colour(value: str) -> Colour | None:
    """`#rgb`, `#rrggbb`, `rgb()`, an opaque `rgba()`, black or white; None for anything else
    (transparent, inherit, a partly transparent colour)."""
    value = value.strip().lower().removesuffix("!important").strip()
    if value in _NAMED:
        return _NAMED[value]
    if match := _HEX.fullmatch(value):
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(digit * 2 for digit in digits)
        red, green, blue = (int(digits[index : index + 2], 16) for index in (0, 2, 4))
        return (red, green, blue)
    if match := _RGB.fullmatch(value):
        alpha = match.group(4)
        if alpha is not None and float(alpha) < 1:
            return None
        red, green, blue = (int(match.group(index)) for index in (1, 2, 3))
        return (red, green, blue)
    return None


def relative_luminance(colour: Colour) -> float:
    """WCAG 2's relative luminance of an sRGB colour, 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = colour
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast_ratio(first: Colour, second: Colour) -> float:
    """WCAG 2's contrast ratio of two colours, 1 to 21, whichever order they come in."""
    lighter, darker = sorted(map(relative_luminance, (first, second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True, slots=True)
class TextPair:
    """A piece of text, the colour it is written in and the colour behind it."""

    text: str
    where: str
    colour: Colour
    background: Colour

    @property
    def ratio(self) -> float:
        return contrast_ratio(self.colour, self.background)


def declarations(style: str) -> dict[str, str]:
    """A style attribute's declarations, property names lower-cased."""
    found: dict[str, str] = {}
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        if colon:
            found[name.strip().lower()] = value.strip()
    return found


def dark_mode_rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """The (selector, declarations) of every rule in the stylesheet's dark-mode media queries."""
    sheet = cssutils.parseString(css, validate=False)
    rules: list[tuple[str, dict[str, str]]] = []
    for rule in sheet:
        if rule.type == rule.MEDIA_RULE and "prefers-color-scheme: dark" in rule.media.mediaText:
            rules += style_rules(rule.cssRules)
    return rules


def style_rules(rules: Any) -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) for each selector of each plain style rule in `rules`."""
    return [
        (selector.selectorText, {p.name.lower(): p.value for p in rule.style.getProperties()})
        for rule in rules
        if rule.type == rule.STYLE_RULE
        for selector in rule.selectorList
    ]


def overrides(root: Any, rules: Sequence[tuple[str, dict[str, str]]]) -> dict[Any, dict[str, str]]:
    """What `rules` (all !important, as dark-mode rules over inlined styles must be) set on each
    element; a later rule wins over an earlier one, as in the cascade at equal importance."""
    found: dict[Any, dict[str, str]] = {}
    for selector, properties in rules:
        for element in CSSSelector(selector)(root):
            found.setdefault(element, {}).update(properties)
    return found


def text_pairs(html: str, rules: Sequence[tuple[str, dict[str, str]]] = ()) -> list[TextPair]:
    """Every visible text of an inlined email (and every image's alt text) with its colours,
    after `rules` (dark mode's) are applied over the inlined styles."""
    root = etree.fromstring(html, etree.HTMLParser())
    body = root.find("body")
    assert body is not None
    extra = overrides(root, rules)
    return list(_pairs(body, extra))


def _pairs(body: Any, extra: Mapping[Any, dict[str, str]]) -> Iterator[TextPair]:
    for element in body.iter(tag=etree.Element):
        if _hidden(element, extra):
            continue
        texts = [element.text or ""] + [child.tail or "" for child in element]
        if element.tag == "img":
            texts = [element.get("alt", "")]
        shown = " ".join(" ".join(texts).split())
        if not shown.strip("\u034f\u200c\xa0 "):
            continue
        yield TextPair(
            shown[:60],
            f"<{element.tag} class={element.get('class')!r}>",
            inherited_colour(element, "color", extra) or DEFAULT_TEXT,
            inherited_colour(element, "background-color", extra) or DEFAULT_BACKGROUND,
        )


def _style(element: Any, extra: Mapping[Any, dict[str, str]]) -> dict[str, str]:
    style = declarations(element.get("style", ""))
    if "background" in style and "background-color" not in style:
        style["background-color"] = style["background"]
    return style | extra.get(element, {})


def inherited_colour(
    element: Any, name: str, extra: Mapping[Any, dict[str, str]] | None = None
) -> Colour | None:
    """The `color` or `background-color` an element shows, from itself or its ancestors."""
    # Text colour is inherited; a background shows through from the nearest ancestor that paints.
    for ancestor in (element, *element.iterancestors()):
        value = _style(ancestor, extra or {}).get(name)
        if value is not None and (colour := parse_colour(value)) is not None:
            return colour
    return None


def _hidden(element: Any, extra: Mapping[Any, dict[str, str]]) -> bool:
    return any(
        _style(ancestor, extra).get("display", "").startswith("none")
        for ancestor in (element, *element.iterancestors())
    )
