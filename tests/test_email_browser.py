"""The digest in Debian's chromium, in light and dark mode: readable text, a hidden preheader,
images shown in their own proportions, and the site's logo in the masthead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from publisher.store.database import Store
from tests.conftest import MigratedTemplates, MovableClock, Site, save_screenshot
from tests.contrast import Colour, contrast_between, opaque_colour, relative_luminance
from tests.test_digest_browser import site_media, write_preview

# Every element showing text of its own, with its computed colour and the background it sits
# on: the nearest ancestor (or itself) whose background is not transparent.
TEXT_COLOURS = """() => {
  const painted = element => {
    for (let node = element; node; node = node.parentElement) {
      const colour = getComputedStyle(node).backgroundColor;
      if (colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') return colour;
    }
    return null;
  };
  const found = [];
  for (const element of document.body.querySelectorAll('*')) {
    const own = Array.from(element.childNodes)
      .filter(node => node.nodeType === Node.TEXT_NODE)
      .map(node => node.textContent).join('').replace(/[\\s\\u034f\\u200c]+/g, '');
    if (!own || !element.checkVisibility()) continue;
    found.push({text: own.slice(0, 40), tag: element.tagName, cls: element.className,
                colour: getComputedStyle(element).color, background: painted(element)});
  }
  return found;
}"""


@pytest.fixture
def store_url(tmp_path: Path, migrated_templates: MigratedTemplates) -> str:
    """SQLite only: the browser sees the same HTML whichever database the store is on."""
    return migrated_templates.sqlite_copy(tmp_path / "store.db")


@pytest.fixture
def digest_file(site: Site, store: Store, clock: MovableClock, tmp_path: Path) -> Path:
    return write_preview(site, store, clock, tmp_path)


@pytest.fixture
def open_digest(browser: Browser, digest_file: Path, site: Site) -> Iterator[Any]:
    """Opens the digest in a new page with the given colour scheme and width; images come from
    the site's content folder, and nothing reaches the network."""
    pages: list[Page] = []
    elsewhere: list[str] = []

    def opened(scheme: str, width: int = 600) -> Page:
        page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
        pages.append(page)
        page.route(re.compile(r"^https?://"), site_media(site, elsewhere))
        page.goto(digest_file.as_uri(), wait_until="load")
        save_screenshot(page, f"digest-{scheme}-{width}")
        return page

    yield opened
    for page in pages:
        page.close()


def colour(value: str) -> Colour:
    parsed = opaque_colour(value)
    assert parsed is not None, value
    return parsed


def background_of(page: Page, selector: str) -> Colour:
    return colour(
        page.evaluate(f"getComputedStyle(document.querySelector({selector!r})).backgroundColor")
    )


def faint_texts(page: Page) -> tuple[int, list[str]]:
    texts = page.evaluate(TEXT_COLOURS)
    faint = [
        f"<{text['tag']} class={text['cls']!r}> {text['text']!r}: {ratio:.2f}:1"
        for text in texts
        if (ratio := contrast_between(colour(text["colour"]), colour(text["background"]))) < 4.5
    ]
    return len(texts), faint


def test_dark_mode_shows_dark_backgrounds_and_readable_text(open_digest: Any) -> None:
    page = open_digest("dark")
    assert page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "light dark"
    assert (
        page.evaluate("document.querySelector('meta[name=color-scheme]').content") == "light dark"
    )
    for selector in ("body", ".wrapper", ".card"):
        assert relative_luminance(background_of(page, selector)) < 0.02, selector
    headline = colour(
        page.evaluate("getComputedStyle(document.querySelector('.headline a')).color")
    )
    assert relative_luminance(headline) > 0.7
    count, faint = faint_texts(page)
    assert count > 40
    assert faint == []


def test_light_mode_shows_light_backgrounds_and_readable_text(open_digest: Any) -> None:
    page = open_digest("light")
    for selector in ("body", ".wrapper", ".card"):
        assert relative_luminance(background_of(page, selector)) > 0.8, selector
    count, faint = faint_texts(page)
    assert count > 40
    assert faint == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_preheader_is_hidden_but_not_written_in_the_background_colour(
    open_digest: Any, scheme: str
) -> None:
    page = open_digest(scheme)
    shown = page.evaluate(
        """() => {
          const preheader = document.querySelector('.preheader');
          const style = getComputedStyle(preheader);
          const box = preheader.getBoundingClientRect();
          return {display: style.display, visible: preheader.checkVisibility(),
                  area: box.width * box.height, colour: style.color,
                  text: preheader.textContent.trim().slice(0, 20)};
        }"""
    )
    assert shown["text"]
    assert shown["display"] == "none"
    assert shown["visible"] is False
    assert shown["area"] == 0
    assert colour(shown["colour"]) != background_of(page, "body")
    assert colour(shown["colour"]) != background_of(page, ".wrapper")


@pytest.mark.parametrize("width", [375, 600])
def test_images_show_in_the_proportions_of_their_files(open_digest: Any, width: int) -> None:
    page = open_digest("light", width)
    images = page.evaluate(
        """Array.from(document.images, image => ({
          cls: image.className, src: image.src,
          width: Number(image.getAttribute('width')), height: Number(image.getAttribute('height')),
          natural: [image.naturalWidth, image.naturalHeight],
          shown: [image.getBoundingClientRect().width, image.getBoundingClientRect().height]}))"""
    )
    assert len(images) > 10
    for image in images:
        natural_width, natural_height = image["natural"]
        assert natural_width > 0, image["src"]
        # The attributes hold the file's aspect ratio, to the pixel (the lead's image has no
        # height, so that with images blocked it leaves no tall empty box)...
        assert image["width"] <= natural_width
        if image["height"]:
            assert image["height"] == round(natural_height * image["width"] / natural_width)
        else:
            assert image["cls"] == "hero"
        # ...and the browser shows it unstretched, however narrow the screen.
        shown_width, shown_height = image["shown"]
        assert 0 < shown_width <= image["width"]
        assert shown_height == pytest.approx(shown_width * natural_height / natural_width, abs=1)
    heroes = [image for image in images if image["cls"] == "hero"]
    assert {image["width"] for image in heroes} == {536}  # the sample's photos are 640 wide


def test_the_masthead_shows_the_sites_logo(open_digest: Any, site: Site) -> None:
    page = open_digest("dark")
    logo = page.evaluate(
        """(() => { const logo = document.querySelector('.masthead img.logo');
          return {alt: logo.alt, src: logo.src, loaded: logo.complete && logo.naturalWidth > 0,
                  width: logo.width, height: logo.height, link: logo.closest('a').href}; })()"""
    )
    config = site.config()
    assert config.logo is not None
    assert logo["src"] == config.logo.url
    assert logo["alt"] == config.site.title
    assert logo["loaded"]
    # logo.png is 636x120: shown at half its width, so it is sharp on high-density screens.
    assert (logo["width"], logo["height"]) == (318, 60)
    assert logo["link"] == config.site.url
