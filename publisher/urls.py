"""Where things live on the site: the one place each public URL is spelled."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:  # config checks its URLs with this module: no import at run time
    from publisher.config import Config


def is_absolute_http_url(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL with a host: `https://example.org/x`."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unbalanced IPv6 bracket, a bad port
        return False


def archive_url(config: Config, digest: str, number: int) -> str:
    """Where an edition's archive copy is served: the "view in browser" link."""
    return urljoin(config.archive_url, f"{digest}/{number}.html")
