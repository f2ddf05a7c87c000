"""The site's pages in Debian's chromium at a phone's and a desktop's width, served by
`publisher serve` on loopback: nothing scrolls sideways, every image loads, every link on the
page answers 200, and every piece of text has WCAG AA contrast with what it lies on.

Each page is loaded once per width and colour scheme for all of its checks; with
PUBLISHER_TEST_SCREENSHOTS set, the light one is saved to `test-artifacts/site-<page>-<width>.png`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urldefrag, urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.conftest import (
    MigratedTemplates,
    page_at,
    save_screenshot,
)
from tests.contrast import AA_TEXT, contrast_ratio
from tests.test_web_browser import LiveSite, broken_images, served_sample, sideways_scroll

PAGES = {
    "home": "",
    "page-2": "page/2/",
    "articles": "articles/",
    "categories": "categories/",
    "category": "categories/culture/",
    "tag": "tags/harbour/",
    "archive": "archive/",
    "edition": "archive/daily/1.html",
    "article": "articles/harbour-dredging-march/",
    "podcast": "articles/sea-shanty-choir-album/",
    "author": "authors/mara-quinn/",
    "manage": "manage/",
}
# An archived edition is the email as sent (the email's own CSS, checked with the email): here
# only the line the site adds to it is held to the site's contrast.
CONTRAST_SCOPE = {"edition": ".publisher-masthead"}

TEXT_COLOURS = """(scope) => {
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const colour = getComputedStyle(e).backgroundColor;
      const parts = colour.replace(/^rgba?\\(|\\)$/g, "").split(/[ ,\\/]+/).filter(Boolean);
      if (parts.length < 4 || parseFloat(parts[3]) > 0) return colour;
    }
    return "rgb(255, 255, 255)";
  };
  const found = [];
  for (const element of document.querySelectorAll(scope + " *")) {
    const text = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (!text || box.width < 2 || box.height < 2 || style.visibility === "hidden") continue;
    found.push([element.tagName + "." + element.className, style.color, background(element)]);
  }
  return found;
}"""


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, migrated_templates: MigratedTemplates
) -> Iterator[LiveSite]:
    """The sample site with both digests' first editions, served on loopback for the module."""
    with served_sample(tmp_path_factory, migrated_templates, ("daily", "culture")) as running:
        yield running


def links_on(page: Page) -> list[str]:
    hrefs: list[str] = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
    return hrefs


def check_links(live: LiveSite, seen: PageLook, client: httpx.Client) -> int:
    """Every link to this site answers 200, and a link's #fragment names an element there."""
    checked = 0
    for href in sorted(set(seen.links)):
        if not href.startswith(live.url):
            assert urlsplit(href).scheme in ("http", "https", "mailto"), href
            continue
        address, fragment = urldefrag(href)
        response = client.get(address)
        assert response.status_code == 200, (seen.url, href, response.status_code)
        if fragment:
            assert f'id="{fragment}"' in response.text, (seen.url, href)
        checked += 1
    return checked


@dataclass(frozen=True, slots=True)
class PageLook:
    """What one load of a page in Chromium showed, read once for every test of that page."""

    status: int
    sideways: int
    body_background: str
    text_colours: list[tuple[str, str, str]]
    axe_violations: int
    axe_report: str
    broken_images: list[str]
    images: list[str]
    links: list[str]
    url: str


@pytest.fixture(scope="module")
def look(live: LiveSite, tab: Callable[[int, str], Page]) -> Callable[[str, int, str], PageLook]:
    """Each page at each width and scheme is loaded once (per test process), in the module's
    tab for that width and scheme, and every check of it (fit, images, links, contrast,
    axe-core) reads what that load showed."""
    seen: dict[tuple[str, int, str], PageLook] = {}

    def look_at(name: str, width: int, scheme: str) -> PageLook:
        if (name, width, scheme) not in seen:
            seen[name, width, scheme] = _load(live, tab(width, scheme), name, width, scheme)
        return seen[name, width, scheme]

    return look_at


def _load(live: LiveSite, page: Page, name: str, width: int, scheme: str) -> PageLook:
    response = page.goto(f"{live.url}{PAGES[name]}", wait_until="load")
    assert response is not None
    sideways = sideways_scroll(page)
    body = page.evaluate("getComputedStyle(document.body).backgroundColor")
    colours = page.evaluate(TEXT_COLOURS, CONTRAST_SCOPE.get(name, "body"))
    axe = Axe().run(page)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # load the lazy images
    page.wait_for_load_state("load")
    if scheme == "light":
        save_screenshot(page, f"site-{name}-{width}")
    return PageLook(
        status=response.status,
        sideways=sideways,
        body_background=body,
        text_colours=[(element, colour, ground) for element, colour, ground in colours],
        axe_violations=axe.violations_count,
        axe_report="" if axe.violations_count == 0 else axe.generate_report(),
        broken_images=broken_images(page),
        images=page.evaluate("[...document.images].map(i => i.src)"),
        links=links_on(page),
        url=page.url,
    )


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("name", list(PAGES))
def test_site_page_fits_the_screen_and_every_link_and_image_works(
    live: LiveSite, look: Callable[[str, int, str], PageLook], name: str, width: int
) -> None:
    seen = look(name, width, "light")
    assert seen.status == 200
    assert seen.sideways <= 0, (name, width)
    assert seen.broken_images == []
    with httpx.Client(timeout=10) as client:
        for source in seen.images:
            fetched = client.get(source)
            assert fetched.status_code == 200, source
            assert fetched.headers["content-type"].startswith("image/"), source
        assert check_links(live, seen, client) > 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", list(PAGES))
def test_site_page_text_has_aa_contrast(
    look: Callable[[str, int, str], PageLook], name: str, scheme: str
) -> None:
    seen = look(name, 1280, scheme)
    assert (seen.body_background == "rgb(22, 25, 28)") == (scheme == "dark") or name == "edition"
    assert len(seen.text_colours) >= 3
    weak = [
        (element, colour, background, round(contrast_ratio(colour, background), 2))
        for element, colour, background in seen.text_colours
        if contrast_ratio(colour, background) < AA_TEXT
    ]
    assert weak == []


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", list(PAGES))
def test_site_page_has_no_axe_core_violation(
    look: Callable[[str, int, str], PageLook], name: str, scheme: str, width: int
) -> None:
    seen = look(name, width, scheme)
    assert seen.axe_violations == 0, seen.axe_report


LAYOUT = """() => {
  const width = (selector) => {
    const element = document.querySelector(selector);
    if (!element) return 0;
    const style = getComputedStyle(element);
    return element.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  };
  const cards = [...document.querySelectorAll(".story-grid > .story")].slice(0, 3);
  const masthead = document.querySelector(".masthead-row > .brand").getBoundingClientRect();
  const subscribe = document.querySelector(".masthead .nav-subscribe").getBoundingClientRect();
  return {
    main: width("main"),
    columns: new Set(cards.map((card) => Math.round(card.getBoundingClientRect().top))).size === 1
      ? cards.length : 1,
    subscribeBesideLogo: subscribe.top < masthead.bottom && subscribe.left > masthead.right,
    navRows: new Set([...document.querySelectorAll(".site-nav li")]
      .map((li) => Math.round(li.getBoundingClientRect().top))).size,
    tagline: getComputedStyle(document.querySelector(".tagline")).display,
  };
}"""


@pytest.mark.parametrize(
    ("name", "width", "main", "columns"),
    [
        ("home", 1280, (1050, 1110), 3),
        ("tag", 1280, (1050, 1110), 3),
        ("article", 1280, (680, 720), 0),
        ("home", 375, (300, 340), 1),
    ],
)
def test_listings_are_wide_with_a_card_grid_and_articles_keep_a_reading_measure(
    live: LiveSite, browser: Browser, name: str, width: int, main: tuple[int, int], columns: int
) -> None:
    with page_at(browser, width) as page:
        page.goto(f"{live.url}{PAGES[name]}", wait_until="load")
        layout = page.evaluate(LAYOUT)
    print(f"{name} at {width} px: main {layout['main']:.0f} px, {layout['columns']} columns")
    assert main[0] <= layout["main"] <= main[1], layout
    if columns:
        assert layout["columns"] == columns, layout
    # One row for the masthead: the Subscribe button beside the logo, the sections on one line.
    assert layout["subscribeBesideLogo"], layout
    assert layout["navRows"] == 1, layout
    assert (layout["tagline"] == "none") == (width < 640), layout
