"""`[[sources]]` and `[fetch]` in the config, and `sources.toml` beside it."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import pytest

from publisher import SOURCES_FILE
from publisher.config import load_config
from publisher.errors import ConfigError
from tests.test_config import SITE, config_error, load_text, write_config

MAIL = """
[mail]
from = "news@gazette.example.org"
postal_address = "4 Quay Street"
"""


def test_sources_and_fetch_have_their_defaults(tmp_path: Path) -> None:
    config = load_text(
        tmp_path, SITE + '[[sources]]\nname = "club"\nurl = "https://club.example.net/feed/"\n'
    )
    [source] = config.sources
    assert source.url == "https://club.example.net/feed/"
    assert source.content == "full"
    assert source.every == timedelta(minutes=15)
    assert source.backfill == 0
    assert source.categories == ()
    assert config.fetch.timeout == 30
    assert config.fetch.max_bytes == 10 * 1024 * 1024
    assert config.fetch.allow_private is False
    assert config.fetch.allow_addresses == ()
    assert config.fetch.user_agent is None
    assert config.source("club") is source


def test_a_config_without_sources_has_none(tmp_path: Path) -> None:
    assert load_text(tmp_path, SITE).sources == ()


@pytest.mark.parametrize(
    ("table", "key", "fragment"),
    [
        ('name = "Not A Slug"\nurl = "https://x.example/"', "sources[Not A Slug].name", "pattern"),
        ('name = "x"\nurl = "ftp://x.example/feed"', "sources[x].url", "http(s)"),
        ('name = "x"\nurl = "https://x.example/"\nevery = "often"', "sources[x].every", "duration"),
        ('name = "x"\nurl = "https://x.example/"\ncontent = "all"', "sources[x].content", "full"),
        ('name = "x"\nurl = "https://x.example/"\nbackfill = -1', "sources[x].backfill", "0"),
        ('name = "x"\nurl = "https://x.example/"\nwho = 1', "sources[x].who", "unknown key"),
    ],
)
def test_a_bad_source_is_named_by_file_source_and_key(
    tmp_path: Path, table: str, key: str, fragment: str
) -> None:
    message = config_error(tmp_path, SITE + "[[sources]]\n" + table + "\n")
    assert f"{tmp_path / 'config.toml'}: {key}: " in message
    assert fragment in message


def test_source_names_must_be_unique(tmp_path: Path) -> None:
    table = '[[sources]]\nname = "x"\nurl = "https://x.example/"\n'
    assert "each source name may be used once" in config_error(tmp_path, SITE + table + table)


def test_bad_fetch_settings_are_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, SITE + "[fetch]\ntimeout = 0\n")
    assert ": fetch.timeout: " in message
    message = config_error(tmp_path, SITE + '[fetch]\nuser_agent = "a\\r\\nX-Evil: 1"\n')
    assert ": fetch.user_agent: " in message


def test_allow_addresses_reads_networks_and_single_addresses(tmp_path: Path) -> None:
    networks = '["10.20.0.0/16", "192.168.1.7", "fd00::/8"]'
    config = load_text(tmp_path, SITE + f"[fetch]\nallow_addresses = {networks}\n")
    assert config.fetch.allow_addresses == (
        ipaddress.ip_network("10.20.0.0/16"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("fd00::/8"),
    )


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ('"intranet"', "'intranet' is not an address or a network such as '10.0.0.0/8'"),
        ('"10.20.0.1/16"', "'10.20.0.1/16' has bits set after the prefix: write '10.20.0.0/16'"),
        ('"10.0.0.0/33"', "'10.0.0.0/33' is not an address or a network"),
    ],
)
def test_a_bad_allowed_network_is_named_with_what_to_write(
    tmp_path: Path, entry: str, fragment: str
) -> None:
    message = config_error(tmp_path, SITE + f"[fetch]\nallow_addresses = [{entry}]\n")
    assert f"{tmp_path / 'config.toml'}: fetch.allow_addresses" in message
    assert fragment in message


def test_a_digest_may_choose_sources_and_they_must_exist(tmp_path: Path) -> None:
    sources = '[[sources]]\nname = "wp"\nurl = "https://wp.example.net/feed/"\n'
    digest = '[[digests]]\nname = "posts"\ntitle = "Posts"\nsources = ["wp"]\n'
    config = load_text(tmp_path, SITE + MAIL + sources + digest)
    assert config.digest("posts").sources == ("wp",)
    bad = digest.replace('["wp"]', '["nope"]')
    assert "digests[posts].sources: no source named 'nope'" in config_error(
        tmp_path, SITE + MAIL + sources + bad
    )


def test_sources_toml_beside_the_config_adds_its_sources(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, SITE + '[[sources]]\nname = "own"\nurl = "https://own.example.net/"\n'
    )
    (tmp_path / SOURCES_FILE).write_text(
        '[[sources]]\nname = "extra"\nurl = "https://extra.example.net/feed"\n', encoding="utf-8"
    )
    assert [source.name for source in load_config(path).sources] == ["own", "extra"]


def test_a_bad_sources_toml_is_named_by_its_own_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, SITE)
    extra = tmp_path / SOURCES_FILE
    extra.write_text('[[sources]]\nname = "extra"\nurl = "nope"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{extra}: sources[extra].url: ")
    extra.write_text("[[sources]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
