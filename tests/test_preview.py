"""Local preview: on a loopback Host (or with `serve --preview`) pages link to the server asked."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin

import lxml.html
import pytest
from starlette.testclient import TestClient

from publisher.config import Config
from publisher.web.app import create_app
from publisher.web.preview import is_loopback_host
from tests.conftest import MovableClock, Site
from tests.test_web import ENVIRON, SITE_URL, published

LOCAL = "http://127.0.0.1:8000"
ARTICLE = "/articles/harbour-dredging-march/"


@pytest.fixture
def config(site: Site, clock: MovableClock) -> Config:
    return published(site, None, clock)


@pytest.fixture
def client(config: Config, clock: MovableClock) -> Iterator[TestClient]:
    with TestClient(create_app(config, ENVIRON, clock), base_url=LOCAL) as opened:
        yield opened


def urls_on(html: str, base: str) -> list[str]:
    document = lxml.html.document_fromstring(html)
    found = document.xpath("//a/@href | //link/@href | //img/@src | //form/@action")
    return [urljoin(base, str(value)) for value in found]


@pytest.mark.parametrize("path", ["/", ARTICLE, "/archive/daily/1.html", "/tags/tides/"])
def test_a_loopback_host_gets_pages_whose_site_links_and_images_stay_local(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    urls = urls_on(response.text, f"{LOCAL}{path}")
    assert SITE_URL not in response.text
    local = [url for url in urls if url.startswith(f"{LOCAL}/")]
    assert len(local) >= 3
    for url in local:
        if "#" not in url and not url.endswith("/subscribe"):
            assert client.get(url.removeprefix(LOCAL)).status_code == 200, url


def test_a_proxy_that_passes_the_public_host_gets_the_sites_urls(client: TestClient) -> None:
    response = client.get("/", headers={"host": "gazette.example.org"})
    assert f'href="{SITE_URL}articles/' in response.text
    assert LOCAL not in response.text


def test_preview_flag_rewrites_for_any_host_and_keeps_the_cache_headers(
    config: Config, clock: MovableClock
) -> None:
    with TestClient(create_app(config, ENVIRON, clock, preview=True)) as preview:
        previewed = preview.get(ARTICLE)
    with TestClient(create_app(config, ENVIRON, clock)) as public:
        served = public.get(ARTICLE)
    assert 'href="http://testserver/articles/' in previewed.text
    assert SITE_URL not in previewed.text
    assert f'href="{SITE_URL}' in served.text
    assert previewed.headers["cache-control"] == served.headers["cache-control"]
    assert previewed.headers["content-length"] == str(len(previewed.content))


def test_a_feed_is_previewed_uncompressed_with_local_links(client: TestClient) -> None:
    response = client.get("/feeds/rss.xml", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert f"<link>{LOCAL}/articles/" in response.text
    assert SITE_URL not in response.text


def test_images_pass_byte_for_byte(client: TestClient, config: Config) -> None:
    image = next(path for path in (config.content_dir / "images").iterdir() if path.is_file())
    response = client.get(f"/media/images/{image.name}")
    assert response.content == image.read_bytes()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:8000", True),
        ("127.8.9.10", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("::1", True),
        ("gazette.example.org", False),
        ("10.0.0.1:8000", False),
        ("localhost.example.org", False),
    ],
)
def test_loopback_hosts_are_told_apart(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_gzip_is_still_served_to_the_public_host(config: Config, clock: MovableClock) -> None:
    with TestClient(create_app(config, ENVIRON, clock)) as public:
        response = public.get("/feeds/rss.xml", headers={"accept-encoding": "gzip"})
    assert response.headers.get("content-encoding") == "gzip"
