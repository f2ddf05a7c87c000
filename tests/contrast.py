"""WCAG 2 contrast, pure: colours as CSS writes them, relative luminance, contrast ratios.

`contrast_ratio("#57534c", "#ffffff")` is what WCAG's "contrast (minimum)" asks about: AA wants
4.5:1 for body text. A foreground with alpha is first laid over its background, as a browser
paints it. `contrast_between` compares two colours already read; `opaque_colour` reads one
leniently (None for what is not an opaque colour). `css_rules` and `resolve_variables` read a
small stylesheet well enough to list the colours each rule sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AA_TEXT = 4.5
NAMED = {"white": "#ffffff", "black": "#000000"}
_HEX = re.compile(r"#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_FUNCTION = re.compile(r"rgba?\(\s*([^)]*)\)")
_VARIABLE = re.compile(r"var\(\s*(--[A-Za-z0-9_-]+)\s*(?:,\s*([^)]*))?\)")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class Colour:
    """An sRGB colour, channels 0-255, with its alpha (0-1)."""

    red: float
    green: float
    blue: float
    alpha: float = 1.0


def parse_colour(text: str) -> Colour:
    """A CSS colour: `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb()`/`rgba()` (commas or
    spaces, `/ alpha`), `white` or `black`; ValueError for anything else."""
    value = NAMED.get(text.strip().lower(), text.strip())
    if found := _HEX.fullmatch(value):
        digits = found.group(1)
        if len(digits) in (3, 4):
            digits = "".join(digit * 2 for digit in digits)
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        alpha = channels[3] / 255 if len(channels) == 4 else 1.0
        return Colour(channels[0], channels[1], channels[2], alpha)
    if found := _FUNCTION.fullmatch(value):
        parts = [p for p in re.split(r"[\s,/]+", found.group(1).strip()) if p]
        if len(parts) not in (3, 4):
            raise ValueError(f"not a colour: {text!r}")
        rgb = [_channel(part) for part in parts[:3]]
        alpha = _alpha(parts[3]) if len(parts) == 4 else 1.0
        return Colour(rgb[0], rgb[1], rgb[2], alpha)
    raise ValueError(f"not a colour: {text!r}")


def opaque_colour(text: str) -> Colour | None:
    """`parse_colour`, an `!important` after the colour allowed, for an opaque colour; None for
    anything else (transparent, inherit, a partly transparent colour)."""
    try:
        colour = parse_colour(text.strip().lower().removesuffix("!important"))
    except ValueError:
        return None
    return colour if colour.alpha == 1 else None


def _channel(part: str) -> float:
    number = float(part[:-1]) * 255 / 100 if part.endswith("%") else float(part)
    if not 0 <= number <= 255:
        raise ValueError(f"channel out of range: {part!r}")
    return number


def _alpha(part: str) -> float:
    number = float(part[:-1]) / 100 if part.endswith("%") else float(part)
    if not 0 <= number <= 1:
        raise ValueError(f"alpha out of range: {part!r}")
    return number


def over(foreground: Colour, background: Colour) -> Colour:
    """`foreground` painted over an opaque `background`."""
    a = foreground.alpha
    return Colour(
        foreground.red * a + background.red * (1 - a),
        foreground.green * a + background.green * (1 - a),
        foreground.blue * a + background.blue * (1 - a),
    )


def relative_luminance(colour: Colour) -> float:
    """WCAG 2 relative luminance of an opaque sRGB colour (0 black to 1 white)."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * linear(colour.red) + 0.7152 * linear(colour.green) + 0.0722 * linear(colour.blue)
    )


def contrast_ratio(foreground: str, background: str) -> float:
    """The contrast ratio (1 to 21) of text in `foreground` on `background`, CSS colours both."""
    back = parse_colour(background)
    if back.alpha < 1:
        back = over(back, Colour(255, 255, 255))
    return contrast_between(over(parse_colour(foreground), back), back)


def contrast_between(first: Colour, second: Colour) -> float:
    """The contrast ratio (1 to 21) of two opaque colours, whichever order they come in."""
    lighter, darker = sorted(map(relative_luminance, (first, second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def css_rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """Each rule's selectors and declarations (rules inside @media included), comments gone."""
    text = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    rules = []
    for selector, body in _RULE.findall(text):
        declarations = {}
        for declaration in body.split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                declarations[name.strip().lower()] = value.strip()
        rules.append((" ".join(selector.split()), declarations))
    return rules


DARK_MODE = "@media (prefers-color-scheme: dark)"


def colour_schemes(css: str) -> dict[str, str]:
    """The stylesheet as each colour scheme reads it: "light" without its dark-mode blocks,
    "dark" with their rules after the rest (so their variables win), unwrapped."""
    light, dark = [], []
    rest = css
    while (start := rest.find(DARK_MODE)) != -1:
        light.append(rest[:start])
        opening = rest.index("{", start)
        depth, end = 1, opening + 1
        while depth:
            depth += {"{": 1, "}": -1}.get(rest[end], 0)
            end += 1
        dark.append(rest[opening + 1 : end - 1])
        rest = rest[end:]
    light.append(rest)
    return {"light": "".join(light), "dark": "".join(light) + "".join(dark)}


def resolve_variables(value: str, variables: dict[str, str]) -> str:
    """`value` with every `var(--name)` replaced by its value (or its fallback)."""
    for _ in range(10):
        replaced = _VARIABLE.sub(
            lambda found: variables.get(found.group(1), found.group(2) or ""), value
        )
        if replaced == value:
            break
        value = replaced
    return value.strip()
