"""Where things live on the site: the one place each public URL is spelled."""

from __future__ import annotations

from urllib.parse import urljoin

from publisher.config import Config


def archive_url(config: Config, digest: str, number: int) -> str:
    """Where an edition's archive copy is served: the "view in browser" link."""
    return urljoin(config.archive_url, f"{digest}/{number}.html")
