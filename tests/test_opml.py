"""OPML import and export, and the `publisher sources` commands."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher import SOURCES_FILE
from publisher.config import SourceConfig, load_config
from publisher.content.markup import plain_text
from publisher.errors import PublisherError
from publisher.sources.opml import import_opml, parse_opml, render_opml, source_tables, toml_tables
from tests.conftest import Site
from tests.test_cli import run
from tests.upstream.documents import WORDPRESS_RSS
from tests.upstream.server import FeedServer, Reply, fixed

# What `newsboat -e` writes.
NEWSBOAT = b"""<?xml version="1.0"?>
<opml version="1.0">
\t<head>
\t\t<title>newsboat - Exported Feeds</title>
\t</head>
\t<body>
\t\t<outline type="rss" xmlUrl="https://lwn.net/headlines/rss" htmlUrl="https://lwn.net" \
title="LWN.net"/>
\t\t<outline type="rss" xmlUrl="https://rowing.example.net/feed/" \
htmlUrl="https://rowing.example.net/" title="Alder Rowing Club &#8211; News"/>
\t\t<outline type="rss" xmlUrl="https://birds.example.net/rss" htmlUrl="" title=""/>
\t</body>
</opml>
"""

# A Feedly export: folders of feeds.
FEEDLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
    <head>
        <title>Jane subscriptions in feedly Cloud</title>
    </head>
    <body>
        <outline text="Local Clubs" title="Local Clubs">
            <outline type="rss" text="Alder Rowing Club" title="Alder Rowing Club"
              xmlUrl="https://rowing.example.net/feed/" htmlUrl="https://rowing.example.net/"/>
            <outline type="rss" text="Sailing" title="Sailing" xmlUrl="javascript:alert(1)"/>
        </outline>
        <outline text="Science" title="Science">
            <outline type="rss" text="Tide Tables" title="Tide Tables"
              xmlUrl="https://tides.example.net/feed.json" htmlUrl="https://tides.example.net/"/>
        </outline>
    </body>
</opml>
"""


def config_text(site: Site) -> str:
    return site.config_path.read_text(encoding="utf-8")


def test_newsboat_export_is_read_as_flat_feeds() -> None:
    feeds, errors = parse_opml(NEWSBOAT, "feeds.opml")
    assert errors == []
    assert [(f.url, f.title) for f in feeds] == [
        ("https://lwn.net/headlines/rss", "LWN.net"),
        ("https://rowing.example.net/feed/", "Alder Rowing Club \u2013 News"),
        ("https://birds.example.net/rss", ""),
    ]


def test_feedly_folders_become_categories_and_a_bad_url_is_named_by_line() -> None:
    feeds, errors = parse_opml(FEEDLY, "feedly.opml")
    assert [(f.title, f.categories) for f in feeds] == [
        ("Alder Rowing Club", ("Local Clubs",)),
        ("Tide Tables", ("Science",)),
    ]
    assert errors == [
        "feedly.opml:10: outline 'Sailing': 'javascript:alert(1)' is not an http(s) URL"
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<html><body/></html>", "not an OPML document"),
        (b"<opml", "not valid XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body/></opml>',
            "entity declarations",
        ),
    ],
)
def test_what_is_not_opml_is_refused_naming_the_file(document: bytes, message: str) -> None:
    with pytest.raises(PublisherError, match=message) as raised:
        parse_opml(document, "x.opml")
    assert str(raised.value).startswith("x.opml: ")


def test_import_appends_sources_to_the_config_keeping_its_comments(site: Site) -> None:
    before = config_text(site)
    report = import_opml(site.config(), NEWSBOAT, "feeds.opml")
    assert report.added == ["lwn-net", "alder-rowing-club-news", "birds-example-net"]
    after = config_text(site)
    assert after.startswith(before)
    assert "# The bundled sample site." in after
    config = load_config(site.config_path)
    assert [(s.name, s.url, s.title) for s in config.sources] == [
        ("lwn-net", "https://lwn.net/headlines/rss", "LWN.net"),
        (
            "alder-rowing-club-news",
            "https://rowing.example.net/feed/",
            "Alder Rowing Club \u2013 News",
        ),
        ("birds-example-net", "https://birds.example.net/rss", ""),
    ]
    again = import_opml(config, NEWSBOAT, "feeds.opml")
    assert again.added == []
    assert len(again.skipped) == 3
    assert config_text(site) == after


def test_import_into_sources_toml_leaves_the_config_alone(site: Site) -> None:
    before = config_text(site)
    report = import_opml(site.config(), FEEDLY, "feedly.opml", into_sources_file=True)
    assert report.target == site.root / SOURCES_FILE
    assert config_text(site) == before
    config = load_config(site.config_path)
    assert [(s.name, s.categories) for s in config.sources] == [
        ("alder-rowing-club", ("Local Clubs",)),
        ("tide-tables", ("Science",)),
    ]
    assert len(report.errors) == 1


def test_import_names_never_clash_with_configured_sources(site: Site) -> None:
    site.config_path.write_text(
        config_text(site) + '\n[[sources]]\nname = "lwn-net"\nurl = "https://other.example/"\n'
    )
    report = import_opml(site.config(), NEWSBOAT, "feeds.opml")
    assert report.added[0] == "lwn-net-2"
    assert len(load_config(site.config_path).sources) == 4


def test_export_is_opml_2_and_imports_back_the_same_sources(site: Site, tmp_path: Path) -> None:
    import_opml(site.config(), FEEDLY, "feedly.opml")
    config = load_config(site.config_path)
    document = render_opml("Gazette sources", config.sources, {"tide-tables": "https://tides/"})
    root = etree.fromstring(document)
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "Gazette sources"
    [rowing, tides] = root.findall("body/outline")
    assert rowing.get("xmlUrl") == "https://rowing.example.net/feed/"
    assert rowing.get("category") == "/Local Clubs"
    assert tides.get("htmlUrl") == "https://tides/"

    fresh = tmp_path / "other"
    fresh.mkdir()
    (fresh / "config.toml").write_text(
        '[site]\ntitle = "Other"\nurl = "https://other.example/"\nauthor = "Me"\n'
    )
    import_opml(load_config(fresh / "config.toml"), document, "export.opml")
    reimported = load_config(fresh / "config.toml").sources
    assert [(s.name, s.url, s.title, s.categories) for s in reimported] == [
        (s.name, s.url, s.title, s.categories) for s in config.sources
    ]


# The commands ---------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def add_sources(site: Site, text: str) -> None:
    site.config_path.write_text(
        config_text(site) + "\n[fetch]\nallow_private = true\ntimeout = 5\n" + text
    )


def test_sources_fetch_and_list_report_each_source(site: Site, server: FeedServer) -> None:
    server.serve("/feed", WORDPRESS_RSS)
    server.routes["/down"] = fixed(Reply(500))
    add_sources(
        site,
        f'[[sources]]\nname = "wp"\nurl = "{server.url("/feed")}"\nbackfill = 1\n'
        f'[[sources]]\nname = "down"\nurl = "{server.url("/down")}"\n',
    )
    result = run(site, "sources", "fetch")
    assert result.returncode == 1
    assert "source wp: 1 new, 0 updated" in result.stdout
    assert result.stderr.strip().splitlines() == [
        f"source down: {server.url('/down')}: HTTP 500 Internal Server Error"
    ]
    assert "Traceback" not in result.stderr
    listed = run(site, "sources", "list", env={"COLUMNS": "250"})
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows["wp"][1:2] == [server.url("/feed")]
    assert rows["wp"][5:7] == ["200", "1"]  # after the date, time and zone of the last fetch
    assert rows["down"][5:7] == ["500", "0"]
    assert "HTTP 500 Internal Server Error" in " ".join(rows["down"])


def test_sources_fetch_of_an_unknown_name_is_one_red_line(site: Site, server: FeedServer) -> None:
    add_sources(site, f'[[sources]]\nname = "wp"\nurl = "{server.url("/feed")}"\n')
    result = run(site, "sources", "fetch", "nope")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: config.toml: no source named 'nope' (sources: wp)"


def test_sources_import_and_export_commands(site: Site) -> None:
    opml = site.root / "feeds.opml"
    opml.write_bytes(FEEDLY)
    result = run(site, "sources", "import", "feeds.opml")
    assert result.returncode == 1  # one outline could not be used
    assert "import: 2 sources added" in result.stdout
    assert result.stderr.strip() == (
        "feeds.opml:10: outline 'Sailing': 'javascript:alert(1)' is not an http(s) URL"
    )
    exported = run(site, "sources", "export")
    assert exported.returncode == 0, exported.stderr
    urls = [o.get("xmlUrl") for o in etree.fromstring(exported.stdout.encode()).iter("outline")]
    assert urls == ["https://rowing.example.net/feed/", "https://tides.example.net/feed.json"]


def test_gather_reports_a_failing_source_and_exits_non_zero(site: Site, server: FeedServer) -> None:
    server.routes["/gone"] = fixed(Reply(410))
    add_sources(site, f'[[sources]]\nname = "old"\nurl = "{server.url("/gone")}"\n')
    result = run(site, "gather")
    assert result.returncode == 1
    assert "sources: 1 fetched" in result.stdout
    assert result.stderr.strip() == (
        f"source old: {server.url('/gone')}: gone (HTTP 410): source disabled"
    )


@settings(max_examples=60, deadline=None)
@given(
    titles=st.lists(st.text(max_size=40), min_size=1, max_size=5),
    folder=st.text(max_size=20),
)
def test_any_titles_survive_an_export_and_import(titles: list[str], folder: str) -> None:
    feeds = [
        SourceConfig(
            name=f"s{n}",
            url=f"https://feeds.example.net/{n}",
            title=plain_text(title),
            categories=(folder,) if plain_text(folder) else (),
        )
        for n, title in enumerate(titles)
    ]
    parsed, errors = parse_opml(render_opml("T", feeds, {}), "x.opml")
    assert errors == []
    # A source without a title is exported under its name (readers need a text).
    expected = [(s.url, s.title or s.name) for s in feeds]
    assert [(f.url, f.title) for f in parsed] == expected
    added, _ = source_tables(parsed, [])
    reread = [SourceConfig(**table) for table in tomllib.loads(toml_tables(added))["sources"]]
    assert [(s.url, s.title) for s in reread] == expected
    for reimported in reread:
        assert len(reimported.categories) <= 1
        assert all(plain_text(name) == name for name in reimported.categories)
