"""Fetching upstream feeds from a real HTTP server on loopback."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import brotli
import pytest

from publisher import __version__
from publisher.sources.fetch import (
    FetchRequest,
    FetchResult,
    FetchSettings,
    default_user_agent,
    fetch_all,
    fetch_one,
    is_public_address,
    retry_delay,
)
from tests.upstream.documents import WORDPRESS_RSS
from tests.upstream.server import FeedServer, Reply, fixed

SETTINGS = FetchSettings(
    timeout=5.0,
    max_bytes=10 * 1024 * 1024,
    concurrency=4,
    user_agent=default_user_agent("https://gazette.example.org/"),
    allow_private=True,
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def fetch(
    server: FeedServer, path: str, settings: FetchSettings = SETTINGS, **state: str
) -> FetchResult:
    [result] = fetch_all([FetchRequest("feed", server.url(path), **state)], settings)
    return result


def test_a_feed_is_fetched_with_a_user_agent_naming_publisher_its_version_and_the_site(
    server: FeedServer,
) -> None:
    server.serve("/feed/", WORDPRESS_RSS)
    result = fetch(server, "/feed/")
    assert result.outcome == "fetched"
    assert result.body == WORDPRESS_RSS
    assert result.content_type == "application/rss+xml"
    [seen] = server.requests_for("/feed/")
    assert seen.headers["user-agent"] == f"publisher/{__version__} (+https://gazette.example.org/)"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert "gzip" in seen.headers["accept-encoding"]
    assert "br" in seen.headers["accept-encoding"]


def test_second_fetch_sends_the_etag_back_and_gets_a_304(server: FeedServer) -> None:
    server.serve("/feed/", WORDPRESS_RSS)
    first = fetch(server, "/feed/")
    assert first.etag
    second = fetch(server, "/feed/", etag=first.etag)
    assert second.outcome == "not_modified"
    assert second.status == 304
    assert server.requests_for("/feed/")[1].headers["if-none-match"] == first.etag


def test_last_modified_is_sent_back_as_if_modified_since(server: FeedServer) -> None:
    stamp = "Tue, 24 Nov 2026 18:30:00 GMT"

    def route(headers: dict[str, str]) -> Reply:
        if headers.get("if-modified-since") == stamp:
            return Reply(304)
        return Reply(200, {"Last-Modified": stamp}, WORDPRESS_RSS)

    server.routes["/feed/"] = route
    first = fetch(server, "/feed/")
    assert first.last_modified == stamp
    second = fetch(server, "/feed/", last_modified=stamp)
    assert second.outcome == "not_modified"
    assert second.last_modified == stamp


def test_gzip_and_brotli_bodies_are_decoded(server: FeedServer) -> None:
    server.serve("/gzip/", WORDPRESS_RSS)
    server.routes["/br/"] = fixed(
        Reply(200, {"Content-Encoding": "br"}, brotli.compress(WORDPRESS_RSS))
    )
    assert fetch(server, "/gzip/").body == WORDPRESS_RSS
    assert fetch(server, "/br/").body == WORDPRESS_RSS


def test_a_permanent_redirect_reports_the_new_url(server: FeedServer) -> None:
    server.routes["/old/"] = fixed(Reply(301, {"Location": "/new/"}))
    server.serve("/new/", WORDPRESS_RSS)
    result = fetch(server, "/old/")
    assert result.outcome == "fetched"
    assert result.moved_to == server.url("/new/")
    assert result.url == server.url("/new/")


def test_a_temporary_redirect_keeps_the_url(server: FeedServer) -> None:
    server.routes["/old/"] = fixed(Reply(302, {"Location": "/elsewhere/"}))
    server.serve("/elsewhere/", WORDPRESS_RSS)
    result = fetch(server, "/old/")
    assert result.outcome == "fetched"
    assert result.moved_to is None


def test_more_than_five_redirects_is_an_error(server: FeedServer) -> None:
    for hop in range(7):
        server.routes[f"/hop{hop}/"] = fixed(Reply(301, {"Location": f"/hop{hop + 1}/"}))
    five = fetch(server, "/hop2/")  # 2 -> 7: five redirects, then a 404
    assert five.status == 404
    result = fetch(server, "/hop0/")
    assert result.outcome == "failed"
    assert "more than 5 redirects" in (result.error or "")
    assert len(server.requests_for("/hop6/")) == 1  # hop0 is the first request, hop5 the sixth


def test_410_reports_the_feed_gone(server: FeedServer) -> None:
    server.routes["/gone/"] = fixed(Reply(410))
    result = fetch(server, "/gone/")
    assert result.outcome == "gone"
    assert "410" in (result.error or "")


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_pass_retry_after_on(server: FeedServer, status: int) -> None:
    server.routes["/busy/"] = fixed(Reply(status, {"Retry-After": "3600"}))
    result = fetch(server, "/busy/")
    assert result.outcome == "failed"
    assert result.retry_after == "3600"
    assert str(status) in (result.error or "")


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert retry_delay("120", now) == timedelta(minutes=2)
    assert retry_delay("Wed, 25 Nov 2026 13:30:00 GMT", now) == timedelta(minutes=90)
    assert retry_delay("Wed, 25 Nov 2026 11:00:00 GMT", now) == timedelta(0)
    assert retry_delay("soon", now) is None
    assert retry_delay(None, now) is None


def twelve_megabytes() -> Iterator[bytes]:
    yield b"<?xml version='1.0'?><rss version='2.0'><channel><title>big</title>"
    for _ in range(12 * 1024):
        yield b"<!--" + b"x" * 1017 + b"-->"


def test_a_12_mb_body_is_an_error_not_a_memory_spike(server: FeedServer) -> None:
    server.routes["/big/"] = fixed(
        Reply(200, {"Content-Type": "application/rss+xml"}, chunks=twelve_megabytes)
    )
    server.routes["/big-declared/"] = fixed(
        Reply(200, {"Content-Length": str(12 * 1024 * 1024)}, chunks=twelve_megabytes)
    )
    for path in ("/big/", "/big-declared/"):
        result = fetch(server, path)
        assert result.outcome == "failed"
        assert "10485760-byte limit" in (result.error or "")
        assert result.body == b""


def test_a_gzip_bomb_is_capped_by_its_decoded_size(server: FeedServer) -> None:
    import gzip

    bomb = gzip.compress(b" " * (12 * 1024 * 1024))
    assert len(bomb) < 100_000
    server.routes["/bomb/"] = fixed(Reply(200, {"Content-Encoding": "gzip"}, bomb))
    result = fetch(server, "/bomb/")
    assert result.outcome == "failed"
    assert "byte limit" in (result.error or "")


def test_a_slow_server_times_out_and_the_other_sources_are_fetched(server: FeedServer) -> None:
    held = threading.Event()
    server.routes["/slow/"] = fixed(Reply(200, body=WORDPRESS_RSS, hold=held))
    server.serve("/quick/", WORDPRESS_RSS)
    settings = FetchSettings(1.0, SETTINGS.max_bytes, 4, SETTINGS.user_agent, True)
    try:
        slow, quick = fetch_all(
            [
                FetchRequest("slow", server.url("/slow/")),
                FetchRequest("quick", server.url("/quick/")),
            ],
            settings,
        )
    finally:
        held.set()
    assert slow.outcome == "failed"
    assert slow.error == f"{server.url('/slow/')}: no complete answer within 1 s"
    assert quick.outcome == "fetched"


def test_an_unreachable_server_is_an_error_naming_the_url() -> None:
    with FeedServer() as closed:
        url = closed.url("/feed/")
    [result] = fetch_all([FetchRequest("feed", url)], SETTINGS)
    assert result.outcome == "failed"
    assert (result.error or "").startswith(f"{url}: ConnectError")


def test_loopback_is_refused_unless_allow_private(server: FeedServer) -> None:
    server.serve("/feed/", WORDPRESS_RSS)
    refusing = FetchSettings(5.0, SETTINGS.max_bytes, 4, SETTINGS.user_agent, False)
    result = fetch(server, "/feed/", refusing)
    assert result.outcome == "failed"
    assert "refused" in (result.error or "")
    assert "allow_private" in (result.error or "")
    assert server.requests_for("/feed/") == []


def test_a_dns_answer_naming_loopback_is_refused(server: FeedServer) -> None:
    server.serve("/feed/", WORDPRESS_RSS)
    refusing = FetchSettings(5.0, SETTINGS.max_bytes, 4, SETTINGS.user_agent, False)
    [result] = fetch_all([FetchRequest("feed", f"http://localhost:{server.port}/feed/")], refusing)
    assert result.outcome == "failed"
    assert "localhost is 127.0.0.1" in (result.error or "") or "localhost is ::1" in (
        result.error or ""
    )
    assert server.requests_for("/feed/") == []


def test_a_redirect_out_of_the_allowed_network_is_refused(server: FeedServer) -> None:
    # The first hop is on 127.0.0.2, the one allowed address; its redirect to 127.0.0.1 is
    # checked again, and refused.
    with FeedServer("127.0.0.2") as intranet:
        intranet.routes["/feed/"] = fixed(Reply(301, {"Location": server.url("/internal/")}))
        server.serve("/internal/", WORDPRESS_RSS)
        only_the_intranet = FetchSettings(
            5.0,
            SETTINGS.max_bytes,
            4,
            SETTINGS.user_agent,
            allow_private=False,
            allow_addresses=(ipaddress.ip_network("127.0.0.2/32"),),
        )
        [result] = fetch_all([FetchRequest("feed", intranet.url("/feed/"))], only_the_intranet)
    assert len(intranet.requests_for("/feed/")) == 1
    assert result.outcome == "failed"
    assert f"{server.url('/internal/')}: refused: 127.0.0.1 is 127.0.0.1" in (result.error or "")
    assert server.requests_for("/internal/") == []


def test_an_allowed_network_admits_its_addresses_and_no_others() -> None:
    settings = FetchSettings(
        5.0,
        SETTINGS.max_bytes,
        4,
        SETTINGS.user_agent,
        allow_private=False,
        allow_addresses=(ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("fd00::/8")),
    )
    allowed = ["10.20.3.4", "::ffff:10.20.3.4", "fd12::1", "93.184.215.14"]
    refused = ["10.21.0.1", "127.0.0.1", "::1", "192.168.1.1", "fe80::1"]
    assert all(settings.allows(ipaddress.ip_address(address)) for address in allowed)
    assert not any(settings.allows(ipaddress.ip_address(address)) for address in refused)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed", "gopher://x/"])
def test_only_http_and_https_are_fetched(url: str) -> None:
    [result] = fetch_all([FetchRequest("feed", url)], SETTINGS)
    assert result.outcome == "failed"
    assert "only http and https" in (result.error or "")


def test_a_redirect_to_another_scheme_is_refused(server: FeedServer) -> None:
    server.routes["/feed/"] = fixed(Reply(302, {"Location": "file:///etc/passwd"}))
    result = fetch(server, "/feed/")
    assert result.outcome == "failed"
    assert "only http and https" in (result.error or "")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_https_goes_to_the_checked_address_and_verifies_the_original_host_name() -> None:
    import asyncio
    import ssl

    import trustme

    authority = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    authority.configure_trust(client_tls)
    with FeedServer(tls=server_tls) as secure:
        secure.serve("/feed/", WORDPRESS_RSS)
        good = FetchRequest("feed", f"https://localhost:{secure.port}/feed/")
        result = asyncio.run(fetch_one(good, SETTINGS, client_tls))
        assert result.outcome == "fetched", result.error
        assert result.body == WORDPRESS_RSS
        assert secure.requests_for("/feed/")[0].headers["host"] == f"localhost:{secure.port}"
        wrong_name = FetchRequest("feed", f"https://127.0.0.1:{secure.port}/feed/")
        refused = asyncio.run(fetch_one(wrong_name, SETTINGS, client_tls))
    assert refused.outcome == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in (refused.error or "")


def test_a_validator_that_cannot_be_sent_back_means_a_full_fetch(server: FeedServer) -> None:
    server.routes["/feed/"] = fixed(Reply(200, {"ETag": '"caf\u00e9"'}, WORDPRESS_RSS))
    first = fetch(server, "/feed/")
    assert first.etag == '"caf\u00e9"'
    second = fetch(server, "/feed/", etag=first.etag or "", last_modified="Tue\r\nX: y")
    assert second.outcome == "fetched"
    assert "if-none-match" not in server.requests_for("/feed/")[1].headers
    assert "if-modified-since" not in server.requests_for("/feed/")[1].headers
