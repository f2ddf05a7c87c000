"""Languages: tags to catalogs, a site's own catalogs over the shipped ones, Babel's formats,
gettext and the format filters in the template environments, `check`'s warnings."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

from publisher.config import config_from_mapping, configured_languages
from publisher.errors import ConfigError
from publisher.i18n.catalogs import (
    coverage,
    language_warnings,
    template_message_ids,
    translations_for,
)
from publisher.i18n.formats import long_date, number, short_time
from publisher.i18n.tags import catalog_language, has_shipped_catalog, text_direction
from publisher.mail.render import digest_environment, template_environment
from tests.conftest import Site, run_publisher

STORY = ("%(num)d new story", "%(num)d new stories")
# Arabic has six plural forms: zero, one, two, few (3-10), many (11-99), other.
ARABIC_STORIES = ("لا قصص", "قصة واحدة", "قصتان", "%(num)d قصص", "%(num)d قصة", "%(num)d من القصص")
EVENING = datetime(2026, 10, 20, 22, 30, tzinfo=UTC)


def write_catalog(
    locale_dir: Path,
    folder: str,
    messages: dict[Any, Any],
    *,
    compiled: bool = False,
) -> Path:
    """A site's own catalog for `folder` (`de`, `de_AT`, `ar`) holding `messages`: a .po, or
    with `compiled` a .mo made by Babel as `pybabel compile` would."""
    catalog = Catalog(locale=folder)
    for message_id, string in messages.items():
        catalog.add(message_id, string)
    target = locale_dir / folder / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    path = target / ("messages.mo" if compiled else "messages.po")
    with path.open("wb") as file:
        (write_mo if compiled else write_po)(file, catalog)
    return path


def render(source: str, tag: str, locale_dir: Path | None = None, **context: Any) -> str:
    return template_environment(None, tag, locale_dir).from_string(source).render(context)


def minimal_config(language: str = "en", digests: list[dict[str, Any]] | None = None) -> Any:
    raw: dict[str, Any] = {
        "site": {
            "title": "Gazette",
            "url": "https://gazette.example.org/",
            "author": "Newsroom",
            "language": language,
            "timezone": "Europe/Berlin",
        },
        "mail": {"from": "news@gazette.example.org", "postal_address": "4 Quay Street"},
        "digests": digests or [{"name": "daily", "title": "Daily"}],
    }
    return config_from_mapping(raw, Path("/srv/gazette/config.toml"))


# Tags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "catalog"),
    [
        *[("en", "en"), ("en-GB", "en"), ("de-AT", "de"), ("fr-CA", "fr"), ("es-419", "es")],
        *[("ja", "ja"), ("it", "en"), ("ar", "en"), ("zh-Hant-TW", "en")],
    ],
)
def test_a_regional_tag_reads_its_language_catalog_and_an_unshipped_one_english(
    tag: str, catalog: str
) -> None:
    assert catalog_language(tag) == catalog


def test_only_the_five_shipped_languages_have_a_catalog() -> None:
    assert [has_shipped_catalog(tag) for tag in ("en-GB", "de", "fr", "es", "ja", "it", "ar")] == [
        *([True] * 5),
        False,
        False,
    ]


@pytest.mark.parametrize("tag", ["ar", "ar-EG", "he", "fa", "ur-PK"])
def test_arabic_hebrew_persian_and_urdu_are_written_right_to_left(tag: str) -> None:
    assert text_direction(tag) == "rtl"


@pytest.mark.parametrize("tag", ["en", "de-AT", "ja", "zh-Hant-TW"])
def test_other_languages_are_written_left_to_right(tag: str) -> None:
    assert text_direction(tag) == "ltr"


@pytest.mark.parametrize("tag", ["en_GB", "english", "xx", "de-"])
def test_a_digest_language_that_is_no_bcp47_tag_is_refused_naming_the_key(tag: str) -> None:
    with pytest.raises(ConfigError, match=r"digests\[daily\]\.language: .*BCP 47"):
        minimal_config(digests=[{"name": "daily", "title": "Daily", "language": tag}])


def test_a_site_language_that_is_no_bcp47_tag_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"site\.language: 'en_GB' is not a BCP 47"):
        minimal_config("en_GB")


def test_a_digest_speaks_its_own_language_else_the_site_s() -> None:
    config = minimal_config(
        "en-GB", [{"name": "daily", "title": "D"}, {"name": "tag", "title": "T", "language": "de"}]
    )
    assert [config.digest_language(digest) for digest in config.digests] == ["en-GB", "de"]
    assert digest_environment(config, config.digest("tag")).globals["language"] == "de"


# Formats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("en", "October 21, 2026"),
        ("en-GB", "21 October 2026"),
        ("de", "21. Oktober 2026"),
        ("fr", "21 octobre 2026"),
        ("es", "21 de octubre de 2026"),
        ("ja", "2026年10月21日"),
    ],
)
def test_a_long_date_has_the_month_in_words_on_the_day_of_the_zone(tag: str, shown: str) -> None:
    # 22:30 UTC on the 20th is already the 21st in Berlin.
    assert long_date(EVENING, tag, timezone(timedelta(hours=2))) == shown  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tag", "shown"), [("en", "12:30\u202fAM"), ("en-GB", "00:30"), ("de", "00:30"), ("ja", "0:30")]
)
def test_a_time_is_shown_in_the_zone_as_the_language_writes_it(tag: str, shown: str) -> None:
    from zoneinfo import ZoneInfo

    assert short_time(EVENING, tag, ZoneInfo("Europe/Berlin")) == shown


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("en", "1,234,567.5"),
        ("de", "1.234.567,5"),
        ("fr", "1\u202f234\u202f567,5"),
        ("ja", "1,234,567.5"),
    ],
)
def test_a_number_is_grouped_as_the_language_groups_it(tag: str, shown: str) -> None:
    assert number(1234567.5, tag) == shown


def test_a_datetime_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no zone"):
        long_date(datetime(2026, 10, 20), "de")


# The template environments ---------------------------------------------------------------------


def test_templates_format_in_their_language_and_their_zone() -> None:
    from zoneinfo import ZoneInfo

    source = "{{ day | long_date }}, {{ day | short_time }}, {{ n | number }}"
    shown = render(source, "de-AT", day=EVENING, n=1234.5, zone=ZoneInfo("Asia/Tokyo"))
    assert shown == "21. Oktober 2026, 07:30, 1.234,5"


def test_a_template_variable_called_language_does_not_change_the_format() -> None:
    shown = render("{{ day | long_date }}", "de", day=EVENING, language="en")
    assert shown == "20. Oktober 2026"


def test_templates_read_the_shipped_catalog_of_a_regional_tag() -> None:
    assert render('{{ _("All articles") }}', "de-AT") == "Alle Artikel"
    assert render('{{ _("All articles") }}', "ja") == "すべての記事"
    assert render('{{ _("All articles") }}', "it") == "All articles"


def test_gettext_fills_placeholders_by_keyword() -> None:
    source = '{{ _("Page %(number)d of %(count)d", number=2, count=3) }}'
    assert render(source, "fr") == "Page 2 sur 3"


def test_gettext_escapes_the_values_it_fills_into_html() -> None:
    source = '{% autoescape true %}{{ _("[image: %(alt)s]", alt=alt) }}{% endautoescape %}'
    assert render(source, "fr", alt="<b>") == "[image\u00a0: &lt;b&gt;]"


def test_plural_forms_follow_the_language_of_the_catalog(tmp_path: Path) -> None:
    write_catalog(tmp_path, "de", {STORY: ("%(num)d neue Geschichte", "%(num)d neue Geschichten")})
    source = '{{ ngettext("%(num)d new story", "%(num)d new stories", n) }}'
    assert [render(source, "de", tmp_path, n=n) for n in (1, 5)] == [
        "1 neue Geschichte",
        "5 neue Geschichten",
    ]
    assert [render(source, "en-GB", tmp_path, n=n) for n in (1, 5)] == [
        "1 new story",
        "5 new stories",
    ]


def test_a_site_catalog_for_an_unshipped_language_keeps_its_own_plural_rules(
    tmp_path: Path,
) -> None:
    write_catalog(tmp_path, "ar", {"All articles": "كل المقالات", STORY: ARABIC_STORIES})
    source = '{{ ngettext("%(num)d new story", "%(num)d new stories", n) }}'
    shown = [render(source, "ar", tmp_path, n=n) for n in (0, 1, 2, 3, 11, 100)]
    assert shown == ["لا قصص", "قصة واحدة", "قصتان", "3 قصص", "11 قصة", "100 من القصص"]
    # A string the site's catalog lacks is the shipped English one.
    source = '{{ _("All articles") }} / {{ _("Page %(number)d of %(count)d", number=1, count=2) }}'
    assert render(source, "ar", tmp_path) == "كل المقالات / Page 1 of 2"
    assert render("{{ text_direction }}", "ar", tmp_path) == "rtl"


# A site's own catalogs -------------------------------------------------------------------------


def test_a_site_po_overrides_one_string_and_leaves_the_shipped_others(tmp_path: Path) -> None:
    write_catalog(tmp_path, "de", {"All articles": "Sämtliche Artikel"})
    words = translations_for("de", tmp_path)
    assert words.gettext("All articles") == "Sämtliche Artikel"
    assert words.gettext("Page %(number)d of %(count)d") == "Seite %(number)d von %(count)d"
    assert translations_for("de").gettext("All articles") == "Alle Artikel"


def test_a_site_mo_overrides_as_a_po_does(tmp_path: Path) -> None:
    write_catalog(tmp_path, "fr", {"All articles": "Tous nos articles"}, compiled=True)
    assert translations_for("fr-CA", tmp_path).gettext("All articles") == "Tous nos articles"


def test_a_regional_site_catalog_goes_over_the_site_s_language_catalog(tmp_path: Path) -> None:
    write_catalog(tmp_path, "de", {"All articles": "Sämtliche Artikel", "[image: %(alt)s]": "[B]"})
    write_catalog(tmp_path, "de_AT", {"All articles": "Alle Beiträge"})
    austrian, german = translations_for("de-AT", tmp_path), translations_for("de-DE", tmp_path)
    assert [austrian.gettext("All articles"), austrian.gettext("[image: %(alt)s]")] == [
        "Alle Beiträge",
        "[B]",
    ]
    assert german.gettext("All articles") == "Sämtliche Artikel"


def test_an_edited_site_catalog_is_read_again(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "es", {"All articles": "Artículos"})
    assert translations_for("es", tmp_path).gettext("All articles") == "Artículos"
    write_catalog(tmp_path, "es", {"All articles": "Todo"})
    later = path.stat().st_mtime_ns + 1_000_000_000  # a later edit, whatever the clock's grain
    os.utime(path, ns=(later, later))
    assert translations_for("es", tmp_path).gettext("All articles") == "Todo"


def test_a_broken_site_catalog_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "de" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text('msgid "All articles"\nmsgstr "Alle"\nmsgtext "Seite"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{path}: not a valid catalog"):
        translations_for("de", tmp_path)


def test_a_site_translation_with_other_placeholders_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "de" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text(
        '#, python-format\nmsgid "Page %(number)d of %(count)d"\nmsgstr "Seite %(nummer)d"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=f"^{path}: 'Page %\\(number\\)d of"):
        translations_for("de", tmp_path)


def test_a_config_finds_site_catalogs_in_the_locale_folder_beside_it() -> None:
    assert minimal_config().locale_dir == Path("/srv/gazette/locale")


# What `check` says -----------------------------------------------------------------------------


def test_shipped_languages_miss_nothing() -> None:
    for tag in ("en-GB", "de-AT", "fr", "es", "ja"):
        found = coverage(tag)
        assert found.shipped, tag
        assert found.missing == (), tag
        assert found.total == len(template_message_ids())


def test_coverage_lists_what_a_partial_site_catalog_leaves_in_english(tmp_path: Path) -> None:
    write_catalog(tmp_path, "ar", {"All articles": "كل المقالات"})
    found = coverage("ar", tmp_path)
    assert not found.shipped
    assert "All articles" not in found.missing
    assert "Page %(number)d of %(count)d" in found.missing
    assert len(found.missing) == found.total - 1


def test_check_warns_of_a_language_without_a_catalog_and_of_missing_strings(
    site: Site,
) -> None:
    text = site.config_path.read_text(encoding="utf-8").replace(
        'language = "en-GB"', 'language = "it"'
    )
    text = text.replace('name = "culture"', 'name = "culture"\nlanguage = "ar"')
    site.config_path.write_text(text, encoding="utf-8")
    write_catalog(site.root / "locale", "ar", {"All articles": "كل المقالات"})
    total = len(template_message_ids())
    result = run_publisher(site.root, "check")
    assert result.returncode == 0, result.stderr
    assert "check: warning: [site] language: no catalog for 'it': readers see the English" in (
        result.stdout
    )
    assert (
        f"check: warning: digests[culture].language: {total - 1} of {total} strings have no "
        "'ar' translation and show in English: " in result.stdout
    )


def test_check_is_silent_about_shipped_languages(site: Site) -> None:
    config = site.config()
    assert configured_languages(config) == [("[site] language", "en-GB")]
    assert language_warnings(configured_languages(config), config.locale_dir) == []


# Wired: the site's pages in the site's language, a digest in its own -------------------------


def test_listing_headings_are_in_the_site_language_with_the_site_s_own_words(
    site: Site, clock: Any
) -> None:
    from tests.test_web import document, published, running

    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace('"en-GB"', '"de-AT"'), encoding="utf-8")
    write_catalog(site.root / "locale", "de", {"All articles": "Sämtliche Artikel"})
    for web in running(published(site, None, clock), clock):
        first, second = (web.client.get(path) for path in ("/articles/", "/articles/page/2/"))
        assert document(first).findtext(".//h1") == "Sämtliche Artikel"
        assert document(second).findtext(".//h1") == "Alle Artikel, Seite 2 von 2"


def test_a_digest_in_its_own_language_words_its_text_part_in_it(site: Site) -> None:
    from publisher.content.articles import PublishedArticle
    from publisher.mail.render import EditionInfo, render_edition
    from publisher.site.gather import check_content

    site.write_article(
        "pictured.md",
        "---\ntitle: The quay at dawn\ndate: 2026-10-01T08:00:00\n---\n\n"
        "![Fishing boats](images/logo.png)\n\nThe boats came in.\n",
    )
    config = site.config()
    articles, _ = check_content(config)
    pictured = next(a for a in articles if a.title == "The quay at dawn")
    published = [PublishedArticle("guid-1", 1, pictured.date, pictured)]
    info = EditionInfo(1, EVENING, "https://gazette.example.org/archive/x/1.html")
    shown = {}
    for language in (None, "ja"):
        # One message per article: the text part holds the article's paragraphs and images.
        digest = config.digest("daily").model_copy(update={"mode": "each", "language": language})
        environment = digest_environment(config, digest)
        shown[language] = render_edition(environment, config, digest, info, published).text
    assert "[image: Fishing boats]" in shown[None]
    assert "\uff3b画像\uff1aFishing boats\uff3d" in shown["ja"]  # full-width [:]


def test_an_archived_edition_is_dressed_in_its_digest_s_language(
    site: Site, clock: Any, tmp_path: Path
) -> None:
    from tests.test_web import published, running

    own = tmp_path / "templates" / "web"
    own.mkdir(parents=True)
    (own / "archive-banner.html.j2").write_text(
        '<p id="banner">{{ _("All articles") }} {{ language }} {{ text_direction }}</p>',
        encoding="utf-8",
    )
    text = site.config_path.read_text(encoding="utf-8")
    text = text.replace('name = "daily"', 'name = "daily"\nlanguage = "es"')
    text += f'\n[templates]\ndir = "{own.parent}"\n'
    site.config_path.write_text(text, encoding="utf-8")
    for web in running(published(site, None, clock), clock):
        page = web.client.get("/archive/daily/1.html")
        assert page.status_code == 200
        assert '<p id="banner">Todos los artículos es ltr</p>' in page.text
        home = web.client.get("/articles/")
        assert "All articles" in home.text  # the site's pages stay in the site's language
