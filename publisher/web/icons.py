"""`/favicon.ico`: the `[site] icon` file as an ICO (16, 32 and 48 px), made once per version
of the file; 404 when the icon is a URL elsewhere, missing, or no image Pillow can read."""

from __future__ import annotations

import io
import logging
import os
import threading
import warnings
from pathlib import Path

from PIL import Image
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.web.conditional import answer_conditionally
from publisher.web.files import FileVersion
from publisher.web.site import PageError, WebSite

log = logging.getLogger(__name__)

ICO_SIZES = ((16, 16), (32, 32), (48, 48))
ICON_CACHING = "public, max-age=86400"
# An icon is small: refuse to decode anything bigger than this many pixels.
MAX_ICON_PIXELS = 4096 * 4096


def favicon_ico(data: bytes) -> bytes:
    """An image file's bytes as an ICO holding the sizes browsers ask for; ValueError if it
    is no image Pillow can read (or a huge one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_ICON_PIXELS:
                    raise ValueError(f"{image.width}x{image.height} is too big for an icon")
                rgba = image.convert("RGBA")
    except (OSError, SyntaxError, Image.DecompressionBombError, Warning) as error:
        raise ValueError(f"not an image: {error}") from None
    # Centred on a transparent square at least as big as the largest size: ICO sizes are
    # square, and Pillow leaves out every size bigger than the image.
    side = max(rgba.width, rgba.height, ICO_SIZES[-1][0])
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    if rgba.width < side and rgba.height < side:
        scale = side / max(rgba.width, rgba.height)
        rgba = rgba.resize(
            (round(rgba.width * scale), round(rgba.height * scale)), Image.Resampling.LANCZOS
        )
    square.paste(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    output = io.BytesIO()
    square.save(output, format="ICO", sizes=list(ICO_SIZES))
    return output.getvalue()


class Favicon:
    """The `/favicon.ico` route, with the converted icon cached by the file's version."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self._cached: tuple[FileVersion, bytes] | None = None
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [Route("/favicon.ico", self.favicon, methods=["GET"])]

    def favicon(self, request: Request) -> Response:
        data = self.ico()
        if data is None:
            raise PageError(404)
        response = Response(
            data, media_type="image/vnd.microsoft.icon", headers={"cache-control": ICON_CACHING}
        )
        return answer_conditionally(request, response)

    def ico(self) -> bytes | None:
        """The site's icon as an ICO, or None when it has none on disk (or none Pillow reads)."""
        icon = self.site.config.icon
        return self._ico(icon.path) if icon is not None and icon.path is not None else None

    def _ico(self, path: Path) -> bytes | None:
        try:
            with path.open("rb") as handle:
                version = FileVersion.of(os.fstat(handle.fileno()))
                with self._lock:
                    if self._cached is not None and self._cached[0] == version:
                        return self._cached[1]
                data = favicon_ico(handle.read())
        except OSError:
            return None
        except ValueError as error:
            log.warning("%s: cannot make a favicon of it: %s", path, error)
            return None
        with self._lock:
            self._cached = (version, data)
        return data
