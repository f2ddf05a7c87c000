"""Served files are judged where their names lead: a symbolic link serves nothing it hides;
feeds and editions are gzipped once per version."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.web.files import GzipCache, gzip_etag
from tests.conftest import MovableClock, Site
from tests.test_web import Web, published, running

DRAFT = "news/sea-wall-repairs.md"  # draft: true
EMBARGOED = "news/time-capsule.md"  # dated 2031


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    yield from running(published(site, None, clock), clock)


def link(at: Path, target: str | Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target)


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("images/draft.jpg", f"../{DRAFT}"),
        ("images/embargoed.png", f"../{EMBARGOED}"),
        ("images/public.jpg", "../culture/lantern-festival-returns.md"),
        ("images/config.jpg", "../../config.toml"),
        ("images/store.png", "../../publisher.db"),
        ("images/passwd.jpg", "/etc/passwd"),
        ("images/hidden.jpg", "../.secret/photo.jpg"),
        ("images/folder.jpg", "../news"),
        ("images/loop.jpg", "loop.jpg"),
        ("images/nowhere.jpg", "missing.jpg"),
    ],
)
def test_media_link_to_markdown_a_draft_or_anything_outside_is_404(
    web: Web, name: str, target: str
) -> None:
    content = web.config.content_dir
    (content / ".secret").mkdir()
    (content / ".secret/photo.jpg").write_bytes(b"\xff\xd8 hidden photo")
    (content.parent / "publisher.db").touch()
    link(content / name, target)
    response = web.client.get(f"/media/{name}")
    assert response.status_code == 404, name
    assert b"sea wall" not in response.content.lower()
    assert b"hidden photo" not in response.content


def test_media_link_to_a_real_image_inside_is_served_as_that_image(web: Web) -> None:
    content = web.config.content_dir
    link(content / "gallery/chart.png", "../images/market-chart.png")
    link(content / "gallery/chart-as-jpeg.jpg", "../images/market-chart.png")
    original = (content / "images/market-chart.png").read_bytes()
    for name in ("gallery/chart.png", "gallery/chart-as-jpeg.jpg"):
        response = web.client.get(f"/media/{name}")
        assert response.status_code == 200, name
        assert response.content == original
        assert response.headers["content-type"] == "image/png"


def test_feed_and_archive_links_serve_only_what_their_targets_are(web: Web) -> None:
    feeds, archive = web.config.feeds_dir, web.config.archive_dir
    link(feeds / "categories/leak/rss.xml", web.config.path)
    link(archive / "daily/2.html", web.config.content_dir / DRAFT)
    link(archive / "daily/3.html", web.config.path.parent / "notes.txt")
    (web.config.path.parent / "notes.txt").write_text("private notes")
    link(archive / "daily/4.html", "1.html")
    assert web.client.get("/feeds/categories/leak/rss.xml").status_code == 404
    assert web.client.get("/archive/daily/2.html").status_code == 404
    assert web.client.get("/archive/daily/3.html").status_code == 404
    again = web.client.get("/archive/daily/4.html")
    assert again.status_code == 200
    assert again.content == web.client.get("/archive/daily/1.html").content


@pytest.mark.parametrize("route", ["media", "feeds", "archive"])
def test_a_name_too_long_for_the_file_system_is_404(web: Web, route: str) -> None:
    assert web.client.get(f"/{route}/{'a' * 300}.png").status_code == 404
    assert web.client.get(f"/{route}/{'a/' * 3000}x.html").status_code == 404


# Gzipped copies ------------------------------------------------------------------------------


def test_gzipped_copy_is_made_once_per_key_and_always_the_same_bytes() -> None:
    cache = GzipCache(size=2)
    first = cache.gzipped("a", b"one" * 100)
    assert gzip.decompress(first) == b"one" * 100
    assert cache.gzipped("a", b"not looked at: the key names the bytes") is first
    assert GzipCache(size=2).gzipped("b", b"one" * 100) == first  # no time in the header


def test_gzip_cache_drops_the_least_recently_served_copy_past_its_size() -> None:
    cache = GzipCache(size=2)
    cache.gzipped("a", b"old a")
    cache.gzipped("b", b"old b")
    cache.gzipped("a", b"new a")  # served again: "b" is now the least recent
    cache.gzipped("c", b"c")
    assert gzip.decompress(cache.gzipped("a", b"new a")) == b"old a"
    assert gzip.decompress(cache.gzipped("b", b"new b")) == b"new b"


def test_archived_edition_is_gzipped_and_revalidates_with_its_own_etag(web: Web) -> None:
    path = "/archive/daily/1.html"
    plain = web.client.get(path, headers={"accept-encoding": "identity"})
    with web.client.stream("GET", path, headers={"accept-encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content
    assert response.headers["etag"] == gzip_etag(plain.headers["etag"])
    for etag in (plain.headers["etag"], response.headers["etag"]):
        again = web.client.get(path, headers={"accept-encoding": "gzip", "if-none-match": etag})
        assert again.status_code == 304
