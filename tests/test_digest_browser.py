"""A personalized digest in Debian's chromium: no sideways scrolling, every image loads."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Route

from publisher.content.articles import PublishedArticle
from publisher.mail.render import (
    EditionInfo,
    Recipient,
    personalize,
    render_edition,
    template_environment,
)
from publisher.site.gather import gather
from publisher.store.articles import public_articles
from publisher.store.database import Store
from tests.conftest import SAMPLE_NOW, MigratedTemplates, MovableClock, Site, save_screenshot

SITE_MEDIA = "https://gazette.example.org/media/"
RECIPIENT = Recipient(
    "Zoë O'Brien",
    "zoe@example.org",
    "https://gazette.example.org/unsubscribe/daily/3f9a",
    "https://gazette.example.org/preferences/3f9a",
)


def site_media(site: Site, elsewhere: list[str]) -> Callable[[Route], None]:
    """A route handler serving the sample site's images from its content folder; any other
    URL is refused and noted in `elsewhere`, so nothing reaches the network."""

    def serve(route: Route) -> None:
        url = route.request.url
        file = site.content / url.removeprefix(SITE_MEDIA).split("?")[0]
        if url.startswith(SITE_MEDIA) and file.is_file():
            media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            route.fulfill(body=file.read_bytes(), content_type=media_type)
        else:
            elsewhere.append(url)
            route.abort()

    return serve


@pytest.fixture
def store_url(tmp_path: Path, migrated_templates: MigratedTemplates) -> str:
    """SQLite only: the browser sees the same HTML whichever database the store is on."""
    return migrated_templates.sqlite_copy(tmp_path / "store.db")


@pytest.fixture
def preview(site: Site, store: Store, clock: MovableClock, tmp_path: Path) -> Path:
    """The daily digest of the sample site, personalized, as a file a browser can open."""
    return write_preview(site, store, clock, tmp_path)


def write_preview(site: Site, store: Store, clock: MovableClock, folder: Path) -> Path:
    """Gather the sample site and write its daily digest for RECIPIENT into `folder`."""
    config = site.config()
    gather(store, config, clock)
    with store.transaction() as connection:
        articles: list[PublishedArticle] = public_articles(connection)
    digest = config.digest("daily")
    edition = EditionInfo(14, SAMPLE_NOW, f"{config.archive_url}daily/14.html")
    rendered = render_edition(template_environment(None), config, digest, edition, articles)
    html, _ = personalize(rendered, RECIPIENT)
    path = folder / "digest.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [375, 600])
def test_digest_fits_the_screen_and_every_image_loads(
    browser: Browser, preview: Path, site: Site, width: int
) -> None:
    elsewhere: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.route(re.compile(r"^https?://"), site_media(site, elsewhere))
        page.goto(preview.as_uri(), wait_until="load")
        scroll_width, inner_width = page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        images = page.evaluate(
            "Array.from(document.images, image => ({src: image.currentSrc, alt: image.alt,"
            " loaded: image.complete && image.naturalWidth > 0,"
            " shown: image.getBoundingClientRect().width}))"
        )
        save_screenshot(page, f"digest-{width}")
        headline_size = page.evaluate(
            "getComputedStyle(document.querySelector('.story:not(.lead) .headline')).fontSize"
        )
    finally:
        page.close()
    assert scroll_width <= inner_width
    assert len(images) >= 10
    for image in images:
        assert image["alt"].strip(), image["src"]
        assert image["loaded"], image["src"]
        assert 0 < image["shown"] <= min(width, 600)
    assert elsewhere == []
    # The media query for small screens takes over below 600px.
    assert headline_size == ("18px" if width < 600 else "19px")


def test_the_daily_digest_is_under_4000_px_tall_at_600_px(browser: Browser, preview: Path) -> None:
    page = browser.new_page(viewport={"width": 600, "height": 900})
    try:
        page.route(re.compile(r"^https?://"), lambda route: route.abort())
        page.goto(preview.as_uri(), wait_until="load")
        height = page.evaluate("document.documentElement.scrollHeight")
    finally:
        page.close()
    print(f"the sample's daily digest at 600 px: {height} px tall")
    assert height < 4000


@pytest.mark.parametrize("width", [375, 600])
def test_with_images_blocked_no_empty_box_is_taller_than_a_thumbnail(
    browser: Browser, preview: Path, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.route(re.compile(r"^https?://"), lambda route: route.abort())
        page.goto(preview.as_uri(), wait_until="load")
        boxes = page.evaluate(
            "Array.from(document.images, image => ({src: image.src, loaded: image.naturalWidth > 0,"
            " height: image.getBoundingClientRect().height}))"
        )
    finally:
        page.close()
    assert len(boxes) > 5
    assert not any(box["loaded"] for box in boxes)
    # A thumbnail fits a 96 x 72 slot; the lead's image, with no height, shrinks to its alt text.
    assert [box for box in boxes if box["height"] > 72] == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 600])
def test_the_digest_has_no_axe_core_violation(
    browser: Browser, preview: Path, site: Site, width: int, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.route(re.compile(r"^https?://"), site_media(site, []))
        page.goto(preview.as_uri(), wait_until="load")
        results = Axe().run(page)
    finally:
        context.close()
    assert results.violations_count == 0, results.generate_report()
