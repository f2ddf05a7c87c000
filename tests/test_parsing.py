"""Many articles parsed in forked workers: the same values and errors, in the same order, as
one process gives; and a first gather of that many stores them all."""

from __future__ import annotations

import pytest

from publisher.content.articles import Article, MediaLookup, SiteSettings, parse_article
from publisher.errors import ContentError
from publisher.site import parsing
from publisher.site.gather import gather, media_lookup, site_settings
from publisher.site.parsing import PARALLEL_FROM, parsed_articles
from publisher.store.articles import public_articles
from publisher.store.database import Store
from tests.conftest import MovableClock, Site

ARTICLE = """---
title: "Tide table {number}"
date: 2026-10-{day:02d}T08:00:00
categories: [News]
tags: [tides]
---
The "spring" tides -- highest of the year -- reach the quay at {number}... `x = '1'`.
"""


def sources(count: int) -> list[tuple[str, bytes]]:
    return [
        (f"news/tide-{n}.md", ARTICLE.format(number=n, day=n % 28 + 1).encode())
        for n in range(count)
    ]


def test_many_files_parse_in_workers_to_what_one_process_gives(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsing.os, "cpu_count", lambda: 2)
    config = site.config()
    settings, media = site_settings(config), media_lookup(config.content_dir)
    files = sources(PARALLEL_FROM)
    files.insert(7, ("news/broken.md", b"---\ntitle: [unclosed\n---\nText.\n"))
    in_workers = list(parsed_articles(files, settings, media))
    assert len(in_workers) == len(files)
    for (source, raw), parsed in zip(files, in_workers, strict=True):
        expected = parsed_here(source, raw, settings, media)
        if isinstance(expected, ContentError):
            assert isinstance(parsed, ContentError)
            assert (parsed.path, parsed.line, str(parsed)) == (
                expected.path,
                expected.line,
                str(expected),
            )
        else:
            assert parsed == expected


def parsed_here(
    source: str, raw: bytes, settings: SiteSettings, media: MediaLookup
) -> Article | ContentError:
    try:
        return parse_article(source, raw, settings, media)
    except ContentError as error:
        return error


def test_a_first_gather_of_many_articles_stores_each_once(
    site: Site, store: Store, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsing.os, "cpu_count", lambda: 2)
    for source, raw in sources(PARALLEL_FROM):
        site.write_article(source, raw.decode())
    report = gather(store, site.config(), clock)
    assert report.errors == []
    with store.read() as connection:
        titles = [published.article.title for published in public_articles(connection)]
    assert sum(title.startswith("Tide table") for title in titles) == PARALLEL_FROM
    assert len(titles) == len(set(titles))
