"""The width and height an email shows an image at, from the real file's aspect ratio.

An `<img>` in an email needs `width` and `height` attributes: Outlook sizes images by them
alone, and every client reserves the space before the image loads, so the layout does not jump.
They come from the file itself, read with Pillow (only its header), for images of the site's
content folder, whose URLs are under the media URL. An image elsewhere (an upstream article's)
is never fetched while rendering: it gets a width only, and CSS `height: auto`, so it keeps
its own proportions.

An image is never shown wider than it is: a file narrower than the column is shown at its own
width. The site keeps one file per image, so a file at least twice the display width already is
the sharp ("2x") source for high-density screens.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import lxml.html
from lxml import etree
from PIL import Image

log = logging.getLogger(__name__)

# The digest's column: 600px less 32px of padding on each side.
COLUMN_WIDTH = 536
# The masthead logo's box: a wide wordmark is at most this wide, a square one this tall.
LOGO_WIDTH = 318
LOGO_HEIGHT = 80


@dataclass(frozen=True, slots=True)
class DisplaySize:
    """Where an image shows: `height` is None when the file could not be read (height: auto)."""

    width: int
    height: int | None
    # The file is at least twice as wide as it shows: sharp on high-density screens.
    high_density: bool = False


def fitted(
    natural_width: int, natural_height: int, max_width: int, max_height: int = 0
) -> DisplaySize:
    """An image of the given natural size shrunk (never enlarged) into the box, proportions kept.

    `max_height` 0 means no limit on the height.
    """
    if natural_width <= 0 or natural_height <= 0:
        raise ValueError(f"an image of {natural_width}x{natural_height} pixels has no area")
    scale = min(1.0, max_width / natural_width)
    if max_height:
        scale = min(scale, max_height / natural_height)
    width = max(1, round(natural_width * scale))
    height = max(1, round(natural_height * scale))
    return DisplaySize(width, height, natural_width >= 2 * width)


def local_file(url: str, media_url: str, content_dir: Path) -> Path | None:
    """The content-folder file a media URL names, or None (another site's URL, or outside)."""
    if not url.startswith(media_url):
        return None
    relative = unquote(urlsplit(url[len(media_url) :]).path)
    if not relative:
        return None
    root = content_dir.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def pixel_size(path: Path) -> tuple[int, int] | None:
    """The (width, height) of an image file, reading its header only; None if unreadable."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        log.warning("%s: cannot read the image's size: %s", path, error)
        return None
    return (width, height) if width > 0 and height > 0 else None


class ImageSizes:
    """The display sizes of one site's images (`display_size`), each file read once."""

    def __init__(self, media_url: str, content_dir: Path) -> None:
        self._media_url = media_url
        self._content_dir = content_dir
        self._natural: dict[str, tuple[int, int] | None] = {}

    def natural_size(self, url: str) -> tuple[int, int] | None:
        """The file's own size for a content-folder image's URL; None for any other URL."""
        if url not in self._natural:
            path = local_file(url, self._media_url, self._content_dir)
            self._natural[url] = pixel_size(path) if path is not None else None
        return self._natural[url]

    def display_size(
        self, url: str, max_width: int = COLUMN_WIDTH, max_height: int = 0
    ) -> DisplaySize:
        """The size to show the image at `url`: fitted from its file, else `max_width` wide."""
        natural = self.natural_size(url)
        if natural is None:
            return DisplaySize(max_width, None)
        return fitted(*natural, max_width, max_height)


def sized_images(body_html: str, display_size: Callable[[str], DisplaySize]) -> str:
    """An article body whose content-folder images carry the width and height they show at.

    Images from elsewhere are left as they are: their own size, kept inside the column by CSS.
    """
    if "<img" not in body_html:
        return body_html
    root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    for image in root.iter("img"):
        size = display_size(image.get("src", ""))
        if size.height is not None:
            image.set("width", str(size.width))
            image.set("height", str(size.height))
    return html.escape(root.text or "", quote=False) + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
