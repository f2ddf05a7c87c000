"""The static site `publisher build` writes, served by `python -m http.server` as any host would.

Every same-site link and image of every page must answer there, two builds of unchanged content
must leave every file's bytes and mtime alone, and a page no longer linked must go.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import lxml.html
import pytest

from publisher.config import Config
from publisher.mail.editions import create_edition
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.site.static import MANIFEST_NAME, StaticReport, file_path, same_site_path
from publisher.store.database import open_store
from publisher.web.static import build_static_site
from publisher.web.static_pages import StaticPages
from tests.conftest import MovableClock, Site, free_port
from tests.test_web import ENVIRON, SITE_URL, published


def static_build(config: Config) -> StaticReport:
    return build_static_site(config, ENVIRON)


@pytest.fixture
def built(site: Site, clock: MovableClock) -> Config:
    config = published(site, None, clock)
    static_build(config)
    return config


@pytest.fixture
def static_host(built: Config) -> Iterator[str]:
    """`python -m http.server` over the output folder: its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    server = subprocess.Popen(
        [*command, "--directory", str(built.site_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"http.server never listened on {port}")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def pages(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.html"))


def page_url(folder: Path, page: Path) -> str:
    relative = page.relative_to(folder).as_posix()
    return urljoin(SITE_URL, relative.removesuffix("index.html"))


def same_site_links(folder: Path, page: Path) -> tuple[set[str], set[str]]:
    """The same-site paths a page links to, and those of its images."""
    document = lxml.html.document_fromstring(page.read_bytes())
    base = page_url(folder, page)
    links, images = set(), set()
    for value in document.xpath("//a/@href | //link/@href | //audio/@src | //source/@src"):
        found = same_site_path(SITE_URL, urljoin(base, str(value)).split("#")[0])
        if found is not None and not found.startswith("/subscribe"):
            links.add(found)
    for value in document.xpath("//img/@src"):
        found = same_site_path(SITE_URL, urljoin(base, str(value)))
        if found is not None:
            images.add(found)
    return links, images


def test_every_same_site_link_and_image_answers_from_a_plain_static_host(
    built: Config, static_host: str
) -> None:
    folder = built.site_dir
    links: set[str] = set()
    images: set[str] = set()
    for page in pages(folder):
        found_links, found_images = same_site_links(folder, page)
        links |= found_links
        images |= found_images
    assert len(pages(folder)) > 40
    assert len(links) > 60
    assert len(images) > 10
    with httpx.Client(base_url=static_host) as client:
        broken = [path for path in sorted(links) if client.get(path).status_code != 200]
        answers = {path: client.get(path) for path in sorted(images)}
    assert broken == []
    for path, answer in answers.items():
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("image/"), path
    print(f"\nstatic site: {len(pages(folder))} pages, {len(links)} links, {len(images)} images")


def test_the_static_site_holds_every_kind_of_public_page_and_no_token(built: Config) -> None:
    folder = built.site_dir
    for relative in (
        "index.html",
        "page/2/index.html",
        "articles/harbour-dredging-march/index.html",
        "categories/index.html",
        "archive/index.html",
        "archive/daily/1.html",
        "sitemap.xml",
        "robots.txt",
        "favicon.ico",
        "feeds/rss.xml",
        "static/site.css",
    ):
        assert (folder / relative).is_file(), relative
    assert any(folder.glob("authors/*/index.html"))
    assert any(folder.glob("tags/*/index.html"))
    for page in pages(folder):
        text = page.read_text(encoding="utf-8")
        assert "csrf_token" not in text, page
    form = lxml.html.document_fromstring((folder / "index.html").read_bytes()).xpath("//form")
    assert form[0].get("action") == f"{SITE_URL}subscribe#subscribe"  # served by `publisher serve`


def test_two_builds_of_unchanged_content_leave_every_byte_and_mtime(built: Config) -> None:
    before = snapshot(built.site_dir)
    report = static_build(built)
    assert (report.written, report.removed, report.rendered) == (0, 0, ())
    assert report.unchanged == len(before) - 1  # every file but the manifest
    assert snapshot(built.site_dir) == before


def test_a_page_no_longer_linked_is_removed_and_the_others_kept(built: Config) -> None:
    stale = built.site_dir / "articles" / "withdrawn-story" / "index.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("<p>gone</p>", encoding="utf-8")
    home = built.site_dir / "index.html"
    mtime = home.stat().st_mtime_ns
    (built.site_dir / MANIFEST_NAME).unlink()  # as if the folder came from elsewhere
    report = static_build(built)
    assert report.removed == 1
    assert not stale.parent.exists()
    assert home.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "index.html"),
        ("/articles/a/", "articles/a/index.html"),
        ("/feeds/rss.xml", "feeds/rss.xml"),
        ("/media/a%20b.jpg", "media/a b.jpg"),
    ],
)
def test_url_paths_map_to_files_a_static_host_serves_at_them(path: str, expected: str) -> None:
    assert file_path(path).as_posix() == expected


@pytest.mark.parametrize("path", ["/../etc/passwd", "/a/%2e%2e/b", "/a/b/../../../x"])
def test_a_path_that_would_leave_the_output_folder_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="cannot be a file"):
        file_path(path)


def test_links_elsewhere_or_with_a_query_are_not_the_sites() -> None:
    assert same_site_path(SITE_URL, "https://other.example/articles/") is None
    assert same_site_path(SITE_URL, f"{SITE_URL}page/2/?x=1") is None
    assert same_site_path(SITE_URL, f"http://{urlsplit(SITE_URL).netloc}/") is None
    assert same_site_path(SITE_URL, f"{SITE_URL}tags/tides/") == "/tags/tides/"


def test_an_article_with_audio_has_a_player_and_a_download_link(built: Config) -> None:
    page = built.site_dir / "articles" / "sea-shanty-choir-album" / "index.html"
    document = lxml.html.document_fromstring(page.read_bytes())
    player = document.xpath("//audio[@controls]")
    assert len(player) == 1
    source = player[0].get("src")
    assert source.startswith(f"{SITE_URL}media/")
    assert source.endswith(".wav")
    assert document.xpath("//a[@download]/@href") == [source]
    assert (built.site_dir / file_path(same_site_path(SITE_URL, source) or "").as_posix()).is_file()


def test_every_page_footer_links_the_sections_feeds_and_manage_subscription(
    built: Config,
) -> None:
    for page in pages(built.site_dir):
        if "archive" in page.parts:  # an edition is the email as sent: its footer is the email's
            continue
        footer = lxml.html.document_fromstring(page.read_bytes()).xpath("//footer")
        assert footer, page
        links = set(footer[-1].xpath(".//a/@href"))
        assert f"{SITE_URL}manage/" in links, page
        assert f"{SITE_URL}feeds/rss.xml" in links, page
        assert f"{SITE_URL}archive/" in links, page


def test_an_unchanged_site_is_not_rendered_again(
    built: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    import publisher.web.static_pages as static_pages

    renders: list[object] = []

    class Counted(StaticPages):
        def __init__(self, *arguments: Any) -> None:
            renders.append(arguments)
            super().__init__(*arguments)

    monkeypatch.setattr(static_pages, "StaticPages", Counted)
    report = static_build(built)
    assert (report.written, report.rendered) == (0, ())
    assert renders == []  # nothing a page shows changed: not even the articles were read
    (built.site_dir / MANIFEST_NAME).unlink()  # the output's record is gone: render it all
    report = static_build(built)
    assert len(renders) == 1
    assert report.written == 0  # every page rendered again to the same bytes
    assert len(report.rendered) == len(pages(built.site_dir)) + 4  # + robots, sitemap, icon, css


def test_an_edited_article_renders_only_the_pages_it_is_shown_on(
    built: Config, site: Site, clock: MovableClock
) -> None:
    source = site.content / "news" / "harbour-dredging-to-begin.md"
    source.write_text(source.read_text(encoding="utf-8") + "\nThe vote was close.\n")
    url = f"{SITE_URL}articles/harbour-dredging-march/"
    with open_store(built.store_url) as store:
        gather(store, built, clock)
        build(store, built)
    report = static_build(built)
    rendered = set(report.rendered)
    assert "/articles/harbour-dredging-march/" in rendered
    assert "The vote was close." in page_text(built, "/articles/harbour-dredging-march/")
    showing = {path for path in page_paths(built) if url in page_text(built, path)}
    # Every page that lists it (listings, its category, tags, author, related neighbours) and
    # the sitemap; no other page; an archived edition is the email as it was sent.
    assert rendered == {path for path in showing if not path.startswith("/archive/")}
    assert len(rendered) < len(page_paths(built)) / 3


def test_a_withdrawn_article_s_page_goes_and_the_pages_that_listed_it_change(
    built: Config, site: Site, clock: MovableClock
) -> None:
    url = f"{SITE_URL}articles/harbour-dredging-march/"
    listed_it = {path for path in page_paths(built) if url in page_text(built, path)}
    (site.content / "news" / "harbour-dredging-to-begin.md").unlink()
    with open_store(built.store_url) as store:
        gather(store, built, clock)
        build(store, built)
    report = static_build(built)
    assert not (built.site_dir / "articles" / "harbour-dredging-march").exists()
    assert report.removed == 1
    for path in listed_it - {"/articles/harbour-dredging-march/"}:
        if path.startswith("/archive/"):
            continue  # an archived edition is the email as it was sent
        assert path in report.rendered, path
        if not is_article_page(path):  # another article's own text may still link to it
            assert url not in page_text(built, path), path


def is_article_page(path: str) -> bool:
    return path.startswith("/articles/") and path != "/articles/" and "/page/" not in path


def page_paths(config: Config) -> list[str]:
    """The URL path of every page and the sitemap in the output folder."""
    found = [*pages(config.site_dir), config.site_dir / "sitemap.xml"]
    return [
        "/" + p.relative_to(config.site_dir).as_posix().removesuffix("index.html") for p in found
    ]


def page_text(config: Config, path: str) -> str:
    return (config.site_dir / file_path(path)).read_text(encoding="utf-8")


def test_a_new_edition_an_edited_article_or_media_file_renders_the_site_again(
    built: Config, site: Site, clock: MovableClock
) -> None:
    with open_store(built.store_url) as store:
        clock.advance(days=1)
        site.write_article("news/late-ferry.md", LATE_ARTICLE)
        gather(store, built, clock)
        build(store, built)
    report = static_build(built)
    assert (built.site_dir / "articles" / "late-ferry" / "index.html").is_file()
    assert report.written > 1
    media = next(path for path in built.content_dir.rglob("*.jpg"))
    media.write_bytes(media.read_bytes() + b"\0")
    assert static_build(built).written >= 1
    with open_store(built.store_url) as store:
        create_edition(store, built, "daily", clock)
    assert static_build(built).written >= 1


LATE_ARTICLE = """---
title: The late ferry
date: 2026-11-26
---
The ferry ran late again.
"""


def test_a_site_without_a_static_site_writes_none(site: Site, clock: MovableClock) -> None:
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace("[site]\n", "[site]\nstatic = false\n", 1))
    config = published(site, None, clock)
    assert config.site_dir is None
    report = static_build(config)
    assert report.summary() == "site: no static site ([site] static = false)"
    assert not (site.root / "site").exists()


def test_a_site_written_by_two_processes_is_the_one_a_single_process_writes(
    built: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    import publisher.web.static as static

    one_process = {path: body for path, (body, _) in snapshot(built.site_dir).items()}
    shutil.rmtree(built.site_dir)
    monkeypatch.setattr(static, "PARALLEL_FROM", 0)
    monkeypatch.setattr(static, "_processes", lambda: 2)
    report = static_build(built)
    assert report.written == len(one_process) - 1  # all but the manifest, written after
    assert {path: body for path, (body, _) in snapshot(built.site_dir).items()} == one_process
