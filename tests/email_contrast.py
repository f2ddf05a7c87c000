"""WCAG 2 contrast of the text in an email: each text's colour pair (colours, luminance and
ratios come from tests/contrast.py).

Pure functions over values: an inlined HTML document, a stylesheet. The pairs come from the
email itself, as premailer inlined it, so every piece of text is checked against the background
it actually sits on (the nearest ancestor that paints one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cssutils
from lxml import etree
from lxml.cssselect import CSSSelector

from tests.contrast import Colour, contrast_between, opaque_colour

# What a mail client paints when the email sets nothing: black text on white.
DEFAULT_TEXT = Colour(0, 0, 0)
DEFAULT_BACKGROUND = Colour(255, 255, 255)


@dataclass(frozen=True, slots=True)
class TextPair:
    """A piece of text, the colour it is written in and the colour behind it."""

    text: str
    where: str
    colour: Colour
    background: Colour

    @property
    def ratio(self) -> float:
        return contrast_between(self.colour, self.background)


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
        if value is not None and (colour := opaque_colour(value)) is not None:
            return colour
    return None


def _hidden(element: Any, extra: Mapping[Any, dict[str, str]]) -> bool:
    return any(
        _style(ancestor, extra).get("display", "").startswith("none")
        for ancestor in (element, *element.iterancestors())
    )
