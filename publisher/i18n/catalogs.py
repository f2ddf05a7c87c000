"""Message catalogs: the shipped ones, a site's own over them, chained per language and cached.

The package ships `publisher/locale/<language>/LC_MESSAGES/messages.po` and its compiled `.mo`
for each of `SHIPPED_LANGUAGES`, and `publisher/locale/messages.pot`, the strings to translate.
A site may add `locale/<language>/LC_MESSAGES/messages.po` (or a compiled `.mo`) in its own
folder: a `.po` is compiled when it is loaded, so there is no build step. Each string is looked
up in the most specific catalog first (`locale/de_AT/`, then the site's `locale/de/`, then the
shipped German, then the shipped English), each with its own plural rules.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import Translations

from publisher.errors import ConfigError
from publisher.i18n.tags import (
    SHIPPED_LANGUAGES,
    SOURCE_LANGUAGE,
    catalog_folders,
    catalog_language,
    has_shipped_catalog,
    parse_language_tag,
)

DOMAIN = "messages"
SHIPPED_LOCALE = importlib.resources.files("publisher") / "locale"
TEMPLATE_NAME = f"{DOMAIN}.pot"

MessageId = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SiteCatalog:
    """A site's own catalog file and the time it was last changed (so an edit is seen)."""

    path: Path
    modified: int


def site_catalogs(tag: str, site_locale_dir: Path | None) -> tuple[SiteCatalog, ...]:
    """The site's own catalogs for `tag`, most general first: a `.po` is preferred to a `.mo`."""
    if site_locale_dir is None:
        return ()
    found = []
    for folder in catalog_folders(tag):
        for suffix in (".po", ".mo"):
            path = site_locale_dir / folder / "LC_MESSAGES" / f"{DOMAIN}{suffix}"
            if path.is_file():
                found.append(SiteCatalog(path, path.stat().st_mtime_ns))
                break
    return tuple(found)


def translations_for(tag: str, site_locale_dir: Path | None = None) -> Translations:
    """The translations a reader of `tag` sees: the site's catalogs over the shipped one.

    Cached per language and site catalog (a changed file is read again). ConfigError names a
    site catalog that cannot be read.
    """
    return _translations(catalog_language(tag), site_catalogs(tag, site_locale_dir))


@functools.lru_cache(maxsize=32)
def _translations(shipped: str, site: tuple[SiteCatalog, ...]) -> Translations:
    layers = [*(_site_catalog(entry) for entry in reversed(site)), _shipped_catalog(shipped)]
    if shipped != SOURCE_LANGUAGE:
        layers.append(_shipped_catalog(SOURCE_LANGUAGE))
    chain = [_compiled(catalog) for catalog in layers]
    for more_specific, fallback in itertools.pairwise(chain):
        more_specific.add_fallback(fallback)
    return chain[0]


def _compiled(catalog: Catalog) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@functools.lru_cache(maxsize=len(SHIPPED_LANGUAGES))
def _shipped_catalog(language: str) -> Catalog:
    source = SHIPPED_LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with source.open("rb") as file:
        return read_mo(file)


@functools.lru_cache(maxsize=32)
def _site_catalog(entry: SiteCatalog) -> Catalog:
    try:
        with entry.path.open("rb") as file:
            if entry.path.suffix == ".mo":
                return read_mo(file)
            catalog = read_po(file, abort_invalid=True)
    except PoFileError as error:
        raise ConfigError(f"{entry.path}: not a valid catalog: {error}") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{entry.path}: cannot read the catalog: {error}") from None
    # A translation whose placeholders differ from its message's would fail every render.
    for message, errors in catalog.check():
        if errors:
            raise ConfigError(f"{entry.path}: {message.id!r}: {errors[0]}")
    return catalog


def template_message_ids() -> frozenset[MessageId]:
    """Every string the templates and code give to gettext, from the shipped `messages.pot`."""
    with (SHIPPED_LOCALE / TEMPLATE_NAME).open("rb") as file:
        return message_ids(read_po(file))


def message_ids(catalog: Iterable[object]) -> frozenset[MessageId]:
    """The ids of a catalog's messages (a plural's as a tuple), without the header."""
    ids = (getattr(message, "id", "") for message in catalog)
    return frozenset(
        tuple(ident) if isinstance(ident, list | tuple) else ident for ident in ids if ident
    )


def translated_ids(catalog: Catalog) -> frozenset[MessageId]:
    """The ids of the messages `catalog` translates (a plural: every form), fuzzy ones aside."""
    done = set()
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        forms = message.string if isinstance(message.string, list | tuple) else [message.string]
        if all(forms):
            done.add(tuple(message.id) if isinstance(message.id, list | tuple) else message.id)
    return frozenset(done)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How well a language's catalogs word the strings: `missing` show in English."""

    tag: str
    shipped: bool
    site_catalogs: tuple[Path, ...]
    missing: tuple[str, ...]
    total: int


def coverage(tag: str, site_locale_dir: Path | None = None) -> Coverage:
    """Which template strings `tag`'s catalogs (the site's and the shipped one) leave in English."""
    site = site_catalogs(tag, site_locale_dir)
    wanted = template_message_ids()
    if parse_language_tag(tag).language == SOURCE_LANGUAGE:
        missing: Sequence[MessageId] = ()
    else:
        layers = [_site_catalog(entry) for entry in site]
        if has_shipped_catalog(tag):
            layers.append(_shipped_catalog(catalog_language(tag)))
        done = frozenset().union(*(translated_ids(layer) for layer in layers))
        missing = sorted(wanted - done, key=str)
    return Coverage(
        tag=tag,
        shipped=has_shipped_catalog(tag),
        site_catalogs=tuple(entry.path for entry in site),
        missing=tuple(ident if isinstance(ident, str) else ident[0] for ident in missing),
        total=len(wanted),
    )


def language_warnings(languages: Iterable[tuple[str, str]], locale_dir: Path | None) -> list[str]:
    """What `publisher check` says of the configured languages (each with the config key that
    sets it) and a site's own catalogs in `locale_dir`: no catalog, strings missing."""
    warnings = []
    for key, tag in languages:
        found = coverage(tag, locale_dir)
        if not found.shipped and not found.site_catalogs:
            warnings.append(
                f"{key}: no catalog for {tag!r}: readers see the English words "
                f"(a site may add locale/{parse_language_tag(tag).language}/LC_MESSAGES/"
                f"{DOMAIN}.po)"
            )
        elif found.missing:
            shown = ", ".join(repr(text) for text in found.missing[:3])
            more = f" and {len(found.missing) - 3} more" if len(found.missing) > 3 else ""
            warnings.append(
                f"{key}: {len(found.missing)} of {found.total} strings have no {tag!r} "
                f"translation and show in English: {shown}{more}"
            )
    return warnings
