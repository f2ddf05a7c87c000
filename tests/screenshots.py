"""The README's screenshots: home, an article and the daily digest's web copy, light and dark,
at 375 and 1280 px, of the sample site served by `publisher serve` on loopback (a local
preview: the sample's own config, its links and images answered by the server itself).

Run: python -m tests.screenshots docs/screenshots
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from publisher.config import load_config
from publisher.mail.editions import create_edition
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import open_store
from tests.conftest import CHROMIUM, CHROMIUM_ARGUMENTS, REPO, MovableClock, free_port
from tests.test_web_browser import serving

PAGES = {
    "home": "",
    "article": "articles/harbour-dredging-march/",
    "digest": "archive/daily/1.html",
}
SCREENS = {375: 812, 1280: 860}


def take(folder: Path) -> list[Path]:
    """Write the screenshots into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        shutil.copytree(REPO / "content", root / "content")
        shutil.copy(REPO / "config.toml", root / "config.toml")
        config = load_config(root / "config.toml")
        clock = MovableClock()
        with open_store(config.store_url) as store:
            gather(store, config, clock)
            build(store, config)
            create_edition(store, config, "daily", clock)
        port = free_port()
        with serving(config.path, port), sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS
            )
            for width, height in SCREENS.items():
                for scheme in ("light", "dark"):
                    context = browser.new_context(
                        viewport={"width": width, "height": height}, color_scheme=scheme
                    )
                    page = context.new_page()
                    for name, path in PAGES.items():
                        page.goto(f"http://127.0.0.1:{port}/{path}", wait_until="load")
                        target = folder / f"{name}-{width}-{scheme}.png"
                        page.screenshot(path=str(target))
                        taken.append(target)
                    context.close()
            browser.close()
    return taken


if __name__ == "__main__":
    for path in take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(path)
