"""Screenshots of the daily digest as a German and a Japanese subscriber receive it, at 375 and
600 px (the email's own width), whole, in Debian's chromium: the sample site published with
`[site] language` set, its first edition personalized, the site's images served from its
content folder. Japanese needs a CJK font (Debian: fonts-noto-cjk).

Run: python -m tests.language_screenshots docs/screenshots
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from publisher.config import load_config
from publisher.mail.editions import create_edition
from publisher.mail.render import personalize
from publisher.site.gather import gather
from publisher.store.database import open_store
from tests.conftest import CHROMIUM, CHROMIUM_ARGUMENTS, REPO, MovableClock, Site
from tests.test_digest_browser import RECIPIENT, site_media

LANGUAGES = ("de", "ja")
WIDTHS = (375, 600)
HEIGHT = 900


def digest_in(language: str, root: Path) -> Path:
    """Publish the sample site in `language` under `root`; the daily digest's personalized
    HTML, written as `root/digest.html`."""
    shutil.copytree(REPO / "content", root / "content")
    configured = (REPO / "config.toml").read_text(encoding="utf-8")
    (root / "config.toml").write_text(
        configured.replace('"en-GB"', f'"{language}"'), encoding="utf-8"
    )
    config = load_config(root / "config.toml")
    clock = MovableClock()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        edition = create_edition(store, config, "daily", clock).edition
    assert edition is not None, "the sample site makes a daily edition"
    html, _ = personalize(edition.rendered, RECIPIENT)
    path = root / "digest.html"
    path.write_text(html, encoding="utf-8")
    return path


def take(folder: Path) -> list[Path]:
    """Write digest-<language>-<width>.png into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with tempfile.TemporaryDirectory() as temporary, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        for language in LANGUAGES:
            root = Path(temporary) / language
            digest = digest_in(language, root)
            media = Site(root, root / "config.toml")
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": HEIGHT})
                elsewhere: list[str] = []
                page.route(re.compile(r"^https?://"), site_media(media, elsewhere))
                page.goto(digest.as_uri(), wait_until="load")
                target = folder / f"digest-{language}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                taken.append(target)
                page.close()
        browser.close()
    return taken


if __name__ == "__main__":
    for path in take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(path)
