"""`config.toml`: loaded, validated and resolved; every mistake named by file and key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from publisher.config import STORE_URL_VARIABLE, Config, load_config
from publisher.errors import ConfigError
from tests.conftest import REPO

SITE = """\
[site]
title = "The Harbour Gazette"
url = "https://gazette.example.org"
author = "The newsroom"
"""


def write_config(folder: Path, text: str) -> Path:
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(folder: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write_config(folder, text), environ or {})


def config_error(folder: Path, text: str, environ: dict[str, str] | None = None) -> str:
    """The message of the ConfigError that loading `text` raises."""
    with pytest.raises(ConfigError) as raised:
        load_text(folder, text, environ)
    return str(raised.value)


def load_or_error(folder: Path, text: str) -> Config | ConfigError:
    try:
        return load_text(folder, text)
    except ConfigError as error:
        return error


def store_database(config: Config) -> str | None:
    return make_url(config.store_url).database


def assert_names(message: str, path: Path, key: str) -> None:
    assert str(path) in message
    assert f": {key}: " in message


# The bundled config


def test_bundled_config_loads() -> None:
    config = load_config(REPO / "config.toml", {})
    assert config.site.title == "The Harbour Gazette"
    assert config.site.url == "https://gazette.example.org/"
    assert config.site.timezone == "Europe/London"
    assert config.site.author.name == "The Harbour Gazette newsroom"
    assert config.site.author.email == "newsroom@gazette.example.org"
    assert config.content_dir == REPO / "content"
    assert config.feeds_dir == REPO / "feeds"
    assert config.media_url == "https://gazette.example.org/media/"
    assert config.feeds_url == "https://gazette.example.org/feeds/"
    assert config.feeds.formats == ("rss", "atom", "json")
    assert config.feeds.max_items == 50


def test_relative_paths_resolve_against_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(REPO / "config.toml", folder / "config.toml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(Path("..") / "site" / "config.toml", {})

    base = folder.resolve()
    assert config.content_dir == base / "content"
    assert config.feeds_dir == base / "feeds"
    assert config.store_url.startswith("sqlite:///")
    assert store_database(config) == str(base / "publisher.db")


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        SITE
        + f'[content]\ndir = "{tmp_path / "c"}"\n[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n',
    )
    assert config.content_dir == tmp_path / "c"
    assert store_database(config) == str(tmp_path / "s.db")


def test_in_memory_sqlite_store_is_not_made_a_file(tmp_path: Path) -> None:
    config = load_text(tmp_path, SITE + '[store]\nurl = "sqlite:///:memory:"\n')
    assert store_database(config) == ":memory:"


def test_postgresql_store_url_uses_the_psycopg_driver(tmp_path: Path) -> None:
    config = load_text(tmp_path, SITE + '[store]\nurl = "postgresql://news:s3cret@db/gazette"\n')
    assert config.store_url == "postgresql+psycopg://news:s3cret@db/gazette"


def test_store_url_in_the_environment_overrides_the_config_file(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        SITE + '[store]\nurl = "sqlite:///local.db"\n',
        {STORE_URL_VARIABLE: "postgresql://news:s3cret@db/gazette"},
    )
    assert config.store_url == "postgresql+psycopg://news:s3cret@db/gazette"


def test_store_url_in_the_environment_works_without_a_store_section(tmp_path: Path) -> None:
    config = load_text(tmp_path, SITE, {STORE_URL_VARIABLE: "postgresql://db/gazette"})
    assert config.store_url == "postgresql+psycopg://db/gazette"


def test_empty_store_url_variable_is_ignored(tmp_path: Path) -> None:
    config = load_text(tmp_path, SITE, {STORE_URL_VARIABLE: ""})
    assert store_database(config) == str(tmp_path.resolve() / "publisher.db")


def test_bad_store_url_from_the_environment_names_the_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, SITE, {STORE_URL_VARIABLE: "mysql://db/gazette"})
    assert_names(message, tmp_path / "config.toml", "store.url")


def test_store_that_is_not_a_table_is_a_config_error_even_with_the_variable_set(
    tmp_path: Path,
) -> None:
    message = config_error(
        tmp_path, 'store = "sqlite:///x.db"\n' + SITE, {STORE_URL_VARIABLE: "sqlite:///y.db"}
    )
    assert_names(message, tmp_path / "config.toml", "store")


# Site values


def test_site_url_gets_a_trailing_slash(tmp_path: Path) -> None:
    assert load_text(tmp_path, SITE).site.url == "https://gazette.example.org/"


def test_author_may_be_a_name(tmp_path: Path) -> None:
    author = load_text(tmp_path, SITE).site.author
    assert (author.name, author.email, author.url) == ("The newsroom", None, None)


def test_author_may_be_a_table(tmp_path: Path) -> None:
    text = SITE.replace(
        'author = "The newsroom"',
        'author = { name = "Priya Nair", email = "priya@gazette.example.org", '
        'url = "https://gazette.example.org/priya/" }',
    )
    author = load_text(tmp_path, text).site.author
    assert author.name == "Priya Nair"
    assert author.email == "priya@gazette.example.org"
    assert author.url == "https://gazette.example.org/priya/"


def test_defaults_fill_every_optional_value(tmp_path: Path) -> None:
    config = load_text(tmp_path, SITE)
    assert config.site.timezone == "UTC"
    assert config.site.language == "en"
    assert config.site.article_url == "/articles/{slug}/"
    assert config.media_url == "https://gazette.example.org/media/"
    assert config.feeds_url == "https://gazette.example.org/feeds/"
    assert config.feeds.max_items == 50
    assert config.feeds.formats == ("rss", "atom", "json")


def test_logo_and_icon_are_content_files_published_under_the_media_url(tmp_path: Path) -> None:
    (tmp_path / "content" / "images").mkdir(parents=True)
    (tmp_path / "content" / "images" / "logo.png").write_bytes(b"png")
    text = SITE + 'logo = "images/logo.png"\nicon = "https://cdn.example.net/icon.png"\n'
    config = load_text(tmp_path, text)
    assert config.logo is not None
    assert config.icon is not None
    assert config.logo.url == "https://gazette.example.org/media/images/logo.png"
    assert config.logo.path == (tmp_path / "content" / "images" / "logo.png").resolve()
    assert (config.icon.url, config.icon.path) == ("https://cdn.example.net/icon.png", None)
    assert load_text(tmp_path, SITE).logo is None


@pytest.mark.parametrize("value", ["../config.toml", "/etc/passwd", "images/../../x.png"])
def test_logo_outside_the_content_folder_names_the_key(tmp_path: Path, value: str) -> None:
    (tmp_path / "content" / "images").mkdir(parents=True)
    message = config_error(tmp_path, SITE + f'logo = "{value}"\n')
    assert "[site] logo" in message
    assert value in message


def test_absolute_media_url_is_kept(tmp_path: Path) -> None:
    config = load_text(tmp_path, SITE + '[content]\nmedia_url = "https://cdn.example.net/m"\n')
    assert config.media_url == "https://cdn.example.net/m/"


@pytest.mark.parametrize(
    "pattern", ["/{year}/{month}/{day}/{slug}/", "/articles/{slug}.html", "{slug}/"]
)
def test_article_url_may_use_date_placeholders(tmp_path: Path, pattern: str) -> None:
    text = SITE + f'article_url = "{pattern}"\n'
    assert load_text(tmp_path, text).site.article_url == pattern


# Mistakes, each named by file and key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (SITE + 'titel = "Typo"\n', "site.titel"),
        (SITE + "[feed]\nmax_items = 10\n", "feed"),
        (SITE + "[feeds]\nmax_item = 10\n", "feeds.max_item"),
        (SITE + '[store]\npath = "x.db"\n', "store.path"),
        (
            SITE.replace('author = "The newsroom"', 'author = { name = "A", mail = "a@b.org" }'),
            "site.author.mail",
        ),
    ],
)
def test_unknown_key_is_refused_with_its_dotted_name(tmp_path: Path, text: str, key: str) -> None:
    message = config_error(tmp_path, text)
    assert_names(message, tmp_path / "config.toml", key)
    assert "unknown key" in message


@pytest.mark.parametrize("key", ["title", "url", "author"])
def test_missing_required_site_value_is_named(tmp_path: Path, key: str) -> None:
    text = "\n".join(line for line in SITE.splitlines() if not line.startswith(f"{key} ="))
    message = config_error(tmp_path, text)
    assert_names(message, tmp_path / "config.toml", f"site.{key}")
    assert "missing" in message


def test_missing_site_section_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[feeds]\nmax_items = 10\n")
    assert_names(message, tmp_path / "config.toml", "site")


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[feeds]\nmax_items = "many"\n', "feeds.max_items"),
        ("[feeds]\nmax_items = 0\n", "feeds.max_items"),
        ('[feeds]\nformats = "rss"\n', "feeds.formats"),
        ("[content]\ndir = 5\n", "content.dir"),
        ('[[digests]]\nname = "d"\ntitle = "D"\nmax_stories = 0\n', "digests[d].max_stories"),
        ('[[digests]]\nname = "d"\ntitle = "D"\nthumbnails = "maybe"\n', "digests[d].thumbnails"),
    ],
)
def test_wrong_type_or_range_is_named(tmp_path: Path, extra: str, key: str) -> None:
    assert_names(config_error(tmp_path, SITE + extra), tmp_path / "config.toml", key)


def test_boolean_max_items_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, SITE + "[feeds]\nmax_items = true\n")
    assert_names(message, tmp_path / "config.toml", "feeds.max_items")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('title = "The Harbour Gazette"', 'title = ""', "site.title"),
        ('author = "The newsroom"', 'author = ""', "site.author.name"),
        ('url = "https://gazette.example.org"', 'url = "ftp://gazette.example.org"', "site.url"),
        ('url = "https://gazette.example.org"', 'url = "gazette.example.org"', "site.url"),
        ('url = "https://gazette.example.org"', 'url = "https://"', "site.url"),
    ],
)
def test_bad_site_value_is_named(tmp_path: Path, old: str, new: str, key: str) -> None:
    message = config_error(tmp_path, SITE.replace(old, new))
    assert_names(message, tmp_path / "config.toml", key)


@pytest.mark.parametrize("zone", ["Europe/Londn", "", "../../etc/passwd", "/etc/localtime"])
def test_unknown_timezone_is_named(tmp_path: Path, zone: str) -> None:
    message = config_error(tmp_path, SITE + f'timezone = "{zone}"\n')
    assert_names(message, tmp_path / "config.toml", "site.timezone")
    assert "unknown timezone" in message


def test_timezone_naming_a_region_folder_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, SITE + 'timezone = "Europe"\n')
    assert_names(message, tmp_path / "config.toml", "site.timezone")


@pytest.mark.parametrize(
    "pattern",
    ["/articles/{year}/", "/articles/{slug}/{hour}/", "/articles/{slug}/{0}/", "/articles/{slug"],
)
def test_article_url_without_slug_or_with_unknown_placeholder_is_named(
    tmp_path: Path, pattern: str
) -> None:
    message = config_error(tmp_path, SITE + f'article_url = "{pattern}"\n')
    assert_names(message, tmp_path / "config.toml", "site.article_url")


@pytest.mark.parametrize("pattern", ["/articles/{slug.x}/", "/articles/{slug[x]}/"])
def test_article_url_with_attribute_or_index_access_is_refused(
    tmp_path: Path, pattern: str
) -> None:
    message = config_error(tmp_path, SITE + f'article_url = "{pattern}"\n')
    assert_names(message, tmp_path / "config.toml", "site.article_url")


def test_article_url_with_escaped_slug_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, SITE + 'article_url = "/articles/{{slug}}/"\n')
    assert_names(message, tmp_path / "config.toml", "site.article_url")


def test_unknown_feed_format_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, SITE + '[feeds]\nformats = ["rss", "xml"]\n')
    assert_names(message, tmp_path / "config.toml", "feeds.formats.1")


def test_duplicated_feed_format_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, SITE + '[feeds]\nformats = ["rss", "atom", "rss"]\n')
    assert_names(message, tmp_path / "config.toml", "feeds.formats")
    assert "once" in message


@pytest.mark.parametrize(
    "url", ["mysql://db/gazette", "postgres://db/gazette", "not a url", "oracle://db"]
)
def test_store_other_than_sqlite_or_postgresql_is_named(tmp_path: Path, url: str) -> None:
    message = config_error(tmp_path, SITE + f'[store]\nurl = "{url}"\n')
    assert_names(message, tmp_path / "config.toml", "store.url")


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[site]\ntitel = "x"\n[feeds]\nmax_items = "many"\n')
    for key in ("site.titel", "site.title", "site.url", "site.author", "feeds.max_items"):
        assert f": {key}: " in message


# Unreadable files


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[site]\ntitle = "unclosed\n')
    assert str(tmp_path / "config.toml") in message
    assert "not valid TOML" in message
    assert "line 2" in message


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="config file not found") as raised:
        load_config(path, {})
    assert str(path) in str(raised.value)


def test_config_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(SITE.encode("utf-8") + b'description = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="cannot read") as raised:
        load_config(path, {})
    assert str(path) in str(raised.value)


def test_config_path_that_is_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, {})
    assert str(tmp_path) in str(raised.value)


# Properties

toml_text = st.text(st.characters(codec="utf-8"), max_size=60)


def toml_string(value: str) -> str:
    """A TOML basic string holding `value` (JSON string escapes are valid TOML ones)."""
    return json.dumps(value, ensure_ascii=False)


@settings(max_examples=100, deadline=None)
@given(
    title=toml_text,
    url=st.one_of(toml_text, st.builds("https://{}".format, toml_text)),
    author=toml_text,
    description=toml_text,
    # Attribute and index access (`{slug.x}`, `{slug[x]}`) are tested above.
    article_url=st.text(st.characters(codec="utf-8", exclude_characters=".["), max_size=40),
)
def test_any_site_values_load_or_give_a_config_error(
    tmp_path_factory: pytest.TempPathFactory,
    title: str,
    url: str,
    author: str,
    description: str,
    article_url: str,
) -> None:
    text = (
        f"[site]\ntitle = {toml_string(title)}\nurl = {toml_string(url)}\n"
        f"author = {toml_string(author)}\ndescription = {toml_string(description)}\n"
        f"article_url = {toml_string(article_url)}\n"
    )
    folder = tmp_path_factory.mktemp("config")
    config = load_or_error(folder, text)
    if isinstance(config, ConfigError):
        assert str(folder / "config.toml") in str(config)
        return
    assert config.site.title == title
    assert config.site.description == description
    assert config.site.author.name == author
    assert config.site.url.startswith(("http://", "https://"))
    assert config.site.url.endswith("/")
    assert "{slug}" in config.site.article_url


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(sorted(available_timezones())))
def test_every_iana_timezone_is_accepted(
    tmp_path_factory: pytest.TempPathFactory, zone: str
) -> None:
    config = load_text(tmp_path_factory.mktemp("config"), SITE + f'timezone = "{zone}"\n')
    assert config.site.zone == ZoneInfo(zone)
