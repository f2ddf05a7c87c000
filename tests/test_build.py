"""Build renders only the feed files whose inputs changed, and restores files changed on disk."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import feedparser
import pytest

from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import Store
from tests.conftest import MovableClock, Site

ARTICLE = "news/harbour-dredging-to-begin.md"


@pytest.fixture
def built(site: Site, store: Store, clock: MovableClock) -> Site:
    gather(store, site.config(), clock)
    build(store, site.config(), clock)
    return site


def feed_files(site: Site) -> dict[str, bytes]:
    return {
        path.relative_to(site.feeds).as_posix(): path.read_bytes()
        for path in sorted(site.feeds.rglob("*"))
        if path.is_file()
    }


def entry_links(path: Path) -> set[str]:
    if path.suffix == ".json":
        return {item["url"] for item in json.loads(path.read_bytes())["items"]}
    return {entry.link for entry in feedparser.parse(path.read_bytes()).entries}


def replace_behind_the_build(path: Path) -> bytes:
    """Other bytes of the same length, with the file's time kept: a build that checks the
    file's state would take it as the one it wrote; only rendering would tell them apart."""
    stat = path.stat()
    data = path.read_bytes()
    changed = data.replace(b"<", b"{", 1) if b"<" in data else data.replace(b"{", b"<", 1)
    path.write_bytes(changed)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return changed


def test_a_build_with_nothing_changed_renders_no_feed(built: Site, store: Store) -> None:
    before = feed_files(built)
    altered = replace_behind_the_build(built.feeds / "archive/1.xml")
    report = build(store, built.config())
    assert report.written == []
    assert report.removed == []
    assert sorted(report.unchanged) == sorted(before)
    assert (built.feeds / "archive/1.xml").read_bytes() == altered


def test_a_feed_file_changed_on_disk_is_written_again(built: Site, store: Store) -> None:
    before = feed_files(built)
    (built.feeds / "categories/news/atom.xml").write_text("edited by hand")
    report = build(store, built.config())
    assert report.written == ["categories/news/atom.xml"]
    assert feed_files(built) == before


def test_a_deleted_feeds_folder_is_written_again(built: Site, store: Store) -> None:
    before = feed_files(built)
    shutil.rmtree(built.feeds)
    report = build(store, built.config())
    assert sorted(report.written) == sorted(before)
    assert feed_files(built) == before


def test_one_edited_article_renders_only_the_feeds_it_appears_in(
    built: Site, store: Store, clock: MovableClock
) -> None:
    url = "https://gazette.example.org/articles/harbour-dredging-march/"
    holding = sorted(path for path in feed_files(built) if url in entry_links(built.feeds / path))
    assert len(holding) > 3
    elsewhere = next(path for path in feed_files(built) if path not in holding)
    altered = replace_behind_the_build(built.feeds / elsewhere)
    path = built.content / ARTICLE
    path.write_text(path.read_text() + "\nA correction.\n")
    clock.advance(minutes=5)
    gather(store, built.config(), clock)
    report = build(store, built.config(), clock)
    assert sorted(report.written) == holding
    assert (built.feeds / elsewhere).read_bytes() == altered


def test_a_changed_feed_setting_renders_the_feeds_again(built: Site, store: Store) -> None:
    text = built.config_path.read_text().replace("max_items = 50", "max_items = 2")
    built.config_path.write_text(text)
    report = build(store, built.config())
    assert "rss.xml" in report.written
    assert "archive/1.xml" in report.unchanged


def test_feeds_written_by_two_processes_are_those_one_process_writes(
    built: Site, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from publisher.site import build as building

    one_process = feed_files(built)
    shutil.rmtree(built.feeds)
    monkeypatch.setattr(building, "_PARALLEL_FROM", 0)
    monkeypatch.setattr(building.os, "cpu_count", lambda: 2)
    report = build(store, built.config())
    assert sorted(report.written) == sorted(one_process)
    assert feed_files(built) == one_process
    assert build(store, built.config()).written == []  # each file's record kept
