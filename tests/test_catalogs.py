"""The shipped catalogs against the code and templates: what `pybabel extract` finds with
`babel.cfg` is exactly what `messages.pot` and every language's `.po` hold, each non-English
catalog translates all of it, and each `.mo` is its `.po` compiled (see CONTRIBUTING.md)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from publisher.i18n.catalogs import message_ids, translated_ids
from publisher.i18n.tags import SHIPPED_LANGUAGES, SOURCE_LANGUAGE
from tests.conftest import REPO

LOCALE = REPO / "publisher" / "locale"
FIX = (
    "regenerate: pybabel extract -F babel.cfg --no-location --sort-output "
    "-o publisher/locale/messages.pot . && pybabel update -i publisher/locale/messages.pot "
    "-d publisher/locale --no-fuzzy-matching --ignore-obsolete, translate, then pybabel compile "
    "-d publisher/locale"
)


def extracted() -> Catalog:
    """What `pybabel extract -F babel.cfg .` finds now, as a catalog."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as file:
        method_map, options_map = parse_mapping_cfg(file)
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(REPO), method_map, options_map
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


def shipped_po(language: str) -> Catalog:
    return po(LOCALE / language / "LC_MESSAGES" / "messages.po")


@pytest.fixture(scope="module")
def wanted() -> frozenset[str | tuple[str, ...]]:
    return message_ids(extracted())


def test_extraction_finds_strings_in_python_and_templates(
    wanted: frozenset[str | tuple[str, ...]],
) -> None:
    assert "All articles" in wanted  # publisher/web/listings.py
    assert "[image: %(alt)s]" in wanted  # publisher/mail/render.py


def test_the_template_catalog_holds_exactly_what_extraction_finds(
    wanted: frozenset[str | tuple[str, ...]],
) -> None:
    held = message_ids(po(LOCALE / "messages.pot"))
    assert sorted(wanted - held, key=str) == [], f"missing from messages.pot; {FIX}"
    assert sorted(held - wanted, key=str) == [], f"stale in messages.pot; {FIX}"


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_each_catalog_holds_exactly_what_extraction_finds(
    language: str, wanted: frozenset[str | tuple[str, ...]]
) -> None:
    held = message_ids(shipped_po(language))
    assert sorted(wanted - held, key=str) == [], f"missing from {language}; {FIX}"
    assert sorted(held - wanted, key=str) == [], f"stale in {language}; {FIX}"


@pytest.mark.parametrize("language", [lang for lang in SHIPPED_LANGUAGES if lang != "en"])
def test_each_language_translates_every_string(
    language: str, wanted: frozenset[str | tuple[str, ...]]
) -> None:
    untranslated = wanted - translated_ids(shipped_po(language))
    assert sorted(untranslated, key=str) == [], f"{language}: translate these, then compile"


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_each_compiled_catalog_is_its_po_compiled(language: str) -> None:
    source = shipped_po(language)
    with (LOCALE / language / "LC_MESSAGES" / "messages.mo").open("rb") as file:
        compiled = read_mo(file)
    assert _translations(compiled) == _translations(source), f"recompile {language}; {FIX}"
    assert compiled.plural_forms == source.plural_forms


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_each_catalog_names_its_language_and_is_not_fuzzy(language: str) -> None:
    catalog = shipped_po(language)
    assert str(catalog.locale) == language
    assert not catalog.fuzzy  # `pybabel compile` skips a fuzzy catalog


def test_the_source_language_catalog_translates_nothing() -> None:
    # English is the source: an English wording is changed in the code or the template.
    assert translated_ids(shipped_po(SOURCE_LANGUAGE)) == frozenset()


def _translations(catalog: Catalog) -> dict[object, object]:
    """Each translated message's id and string, as a compiled catalog keeps them."""
    return {
        _hashable(message.id): _hashable(message.string)
        for message in catalog
        if message.id and _translated(message) and not message.fuzzy
    }


def _translated(message: Message) -> bool:
    # A compiled catalog words an untranslated plural with its ids: the .po leaves it empty.
    strings = message.string if isinstance(message.string, list | tuple) else (message.string,)
    return any(strings) and _hashable(message.string) != _hashable(message.id)


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def test_extraction_reads_the_templates_with_the_environment_s_options() -> None:
    # babel.cfg must parse templates as the environments do (trim_blocks, lstrip_blocks).
    text = (REPO / "babel.cfg").read_text(encoding="utf-8")
    assert text.count("trim_blocks = true") == text.count("[jinja2:")
    assert io.StringIO(text).readline().startswith("#")


# No reader-facing word outside gettext ----------------------------------------------------------

_JINJA_OR_MARKUP = re.compile(
    r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}|<style.*?</style>|<!--.*?-->|<[^>]*>|&#?\w+;", re.DOTALL
)
# Text between tags that is a value, not a word: `{% block width %} wide{% endblock %}`.
_NOT_WORDS = {"wide"}


def literal_words(template: str) -> list[str]:
    """The words a template writes as they are, outside `{{ _(...) }}` and markup."""
    text = _JINJA_OR_MARKUP.sub(" ", template)
    return [word for word in re.findall(r"[^\W\d_]{2,}", text) if word not in _NOT_WORDS]


def reader_templates() -> list[Path]:
    templates = REPO / "templates"
    return sorted(
        path for path in templates.rglob("*.j2") if "admin" not in path.relative_to(templates).parts
    )


def test_no_reader_facing_template_writes_a_word_outside_gettext() -> None:
    found = {
        str(path.relative_to(REPO)): words
        for path in reader_templates()
        if (words := literal_words(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_a_literal_word_in_a_template_is_found() -> None:
    assert literal_words('<h2 id="x">Related</h2>{{ _("Website") }}') == ["Related"]
