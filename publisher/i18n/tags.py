"""BCP 47 language tags: checked with Babel, mapped to the catalog that words them."""

from __future__ import annotations

import functools
from typing import Literal

from babel import Locale, UnknownLocaleError

SOURCE_LANGUAGE = "en"
# The languages whose catalogs ship in the package (`publisher/locale/<language>/`).
SHIPPED_LANGUAGES = ("en", "de", "fr", "es", "ja")
# Written right to left whatever the CLDR data Babel ships says.
RIGHT_TO_LEFT = frozenset({"ar", "he", "fa", "ur"})

TextDirection = Literal["ltr", "rtl"]


@functools.lru_cache(maxsize=64)
def parse_language_tag(tag: str) -> Locale:
    """The Babel locale of the BCP 47 `tag` (`en-GB`, `de-AT`, `ja`); ValueError if unknown."""
    try:
        return Locale.parse(tag, sep="-")
    except UnknownLocaleError:
        raise ValueError(
            f"{tag!r} is not a language Babel knows (use a BCP 47 tag such as 'de')"
        ) from None
    except (ValueError, TypeError):
        raise ValueError(
            f"{tag!r} is not a BCP 47 language tag (such as 'en', 'en-GB' or 'de-AT')"
        ) from None


def catalog_language(tag: str) -> str:
    """The shipped catalog `tag` reads: its language's (`de-AT` -> `de`), else English."""
    language = parse_language_tag(tag).language
    return language if language in SHIPPED_LANGUAGES else SOURCE_LANGUAGE


def has_shipped_catalog(tag: str) -> bool:
    """Whether the package ships a catalog for `tag`'s language."""
    return parse_language_tag(tag).language in SHIPPED_LANGUAGES


def catalog_folders(tag: str) -> tuple[str, ...]:
    """The folder names a site's own catalogs for `tag` may have, most general first.

    `de-AT` reads `locale/de/` and then `locale/de_AT/` over it (gettext's own spelling).
    """
    locale = parse_language_tag(tag)
    specific = str(locale)
    return (locale.language,) if specific == locale.language else (locale.language, specific)


def text_direction(tag: str) -> TextDirection:
    """`"rtl"` for a language written right to left (Arabic, Hebrew, Persian, Urdu...), else
    `"ltr"`: the `dir` of a page or an email in it."""
    locale = parse_language_tag(tag)
    if locale.language in RIGHT_TO_LEFT or locale.text_direction == "rtl":
        return "rtl"
    return "ltr"
