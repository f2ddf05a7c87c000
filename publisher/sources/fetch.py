"""Fetching upstream feeds like a good citizen: conditional GET, caps, redirects, SSRF checks.

Every hop is checked before it is requested: only http(s), and the host's DNS answer must
hold no loopback, private, link-local or otherwise non-public address unless
`[fetch] allow_private` is set or `[fetch] allow_addresses` holds that address. The connection
then goes to the very address that was checked (the Host header and TLS server name keep the
original host), so a second DNS answer cannot point it elsewhere. Redirects are followed here,
by hand, for the same reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from publisher import __version__

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = (301, 308)
TEMPORARY_REDIRECTS = (302, 303, 307)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
Outcome = Literal["fetched", "not_modified", "gone", "failed"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How to fetch: the `[fetch]` section, with the User-Agent made."""

    timeout: float
    max_bytes: int
    concurrency: int
    user_agent: str
    allow_private: bool
    allow_addresses: tuple[IPNetwork, ...] = ()  # networks allowed though not public

    def allows(self, address: IPAddress) -> bool:
        """Whether a connection to `address` is allowed: a public one, one in an allowed
        network, or any with `allow_private`."""
        if self.allow_private or is_public_address(address):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allow_addresses)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One source to fetch, with the validators of its last good response."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What fetching one source came to."""

    name: str
    outcome: Outcome
    url: str  # the URL the final response came from: the base of relative URLs
    status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # set when every redirect followed was permanent
    error: str | None = None
    retry_after: str | None = None  # the header's value, read by `retry_delay`


class FetchError(Exception):
    """A fetch that cannot go on; the message names the URL."""


def default_user_agent(site_url: str) -> str:
    """`publisher/<version> (+<site URL>)`: who is asking, and where to complain."""
    return f"publisher/{__version__} (+{site_url})"


def fetch_all(requests: Sequence[FetchRequest], settings: FetchSettings) -> list[FetchResult]:
    """Fetch every request, at most `concurrency` at a time; one result each, in order."""
    if not requests:
        return []
    return asyncio.run(_fetch_all(requests, settings))


def retry_delay(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds, or an HTTP date) as a delay from `now`; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


def parsed_http_url(url: str) -> tuple[httpx.URL, int]:
    """`url` parsed, with its port; FetchError unless it is an http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise FetchError(f"{url}: not a valid URL ({error})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(f"{url}: only http and https URLs are fetched")
    return parsed, parsed.port or (443 if parsed.scheme == "https" else 80)


def allowed_addresses(
    url: str, host: str, answers: Sequence[tuple[Any, ...]], settings: FetchSettings
) -> list[IPAddress]:
    """The distinct addresses `getaddrinfo` gave for `host`; FetchError if there are none or
    one is not allowed (see `FetchSettings.allows`), so no request goes anywhere unchecked."""
    found = (ipaddress.ip_address(str(answer[4][0]).split("%")[0]) for answer in answers)
    addresses = list(dict.fromkeys(found))
    if not addresses:
        raise FetchError(f"{url}: {host} has no address")
    for address in addresses:
        if not settings.allows(address):
            raise FetchError(
                f"{url}: refused: {host} is {address}, not a public address (add its network "
                "to [fetch] allow_addresses, or set allow_private = true, to fetch from it)"
            )
    return addresses


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is on the public internet (not loopback, private, link-local, ...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def _fetch_all(
    requests: Sequence[FetchRequest], settings: FetchSettings
) -> list[FetchResult]:
    limit = asyncio.Semaphore(settings.concurrency)
    # One TLS context for every client: building one reads the CA bundle.
    tls = ssl.create_default_context()

    async def one(request: FetchRequest) -> FetchResult:
        async with limit:
            return await fetch_one(request, settings, tls)

    return list(await asyncio.gather(*(one(request) for request in requests)))


async def fetch_one(
    request: FetchRequest, settings: FetchSettings, tls: ssl.SSLContext | None = None
) -> FetchResult:
    """Fetch one source within the timeout; every failure becomes a `failed` result."""
    try:
        async with asyncio.timeout(settings.timeout):
            return await _Fetch(request, settings, tls or ssl.create_default_context()).run()
    except TimeoutError:
        error = f"{request.url}: no complete answer within {settings.timeout:g} s"
    except FetchError as problem:
        error = str(problem)
    except httpx.HTTPError as problem:
        error = f"{request.url}: {type(problem).__name__}: {problem}"
    except Exception as problem:  # one source's surprise must not stop the others
        log.exception("fetching %s", request.url)
        error = f"{request.url}: {type(problem).__name__}: {problem}"
    return FetchResult(request.name, "failed", request.url, error=error)


def _sendable(value: str) -> bool:
    return value.isascii() and value.isprintable()


class _Fetch:
    def __init__(self, request: FetchRequest, settings: FetchSettings, tls: ssl.SSLContext) -> None:
        self.request = request
        self.settings = settings
        self.tls = tls

    async def run(self) -> FetchResult:
        url, permanent = self.request.url, True
        async with httpx.AsyncClient(
            verify=self.tls,
            trust_env=False,  # a proxy from the environment would bypass the address checks
            follow_redirects=False,
            timeout=self.settings.timeout,
        ) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                response = await self._get(client, url)
                try:
                    location = response.headers.get("location")
                    if response.status_code in PERMANENT_REDIRECTS + TEMPORARY_REDIRECTS:
                        if not location:
                            raise FetchError(f"{url}: redirect without a Location header")
                        permanent = permanent and response.status_code in PERMANENT_REDIRECTS
                        url = urljoin(url, location.strip())
                        continue
                    result = await self._result(response, url)
                finally:
                    await response.aclose()
                moved = url if permanent and url != self.request.url else None
                return replace(result, moved_to=moved)
        raise FetchError(f"{self.request.url}: more than {MAX_REDIRECTS} redirects")

    async def _get(self, client: httpx.AsyncClient, url: str) -> httpx.Response:
        targets, host = await self._checked(url)
        headers = {
            "host": host,
            "user-agent": self.settings.user_agent,
            "accept": ACCEPT,
        }
        # A validator that is not ASCII cannot be sent back: the feed is fetched in full.
        if self.request.etag and _sendable(self.request.etag):
            headers["if-none-match"] = self.request.etag
        if self.request.last_modified and _sendable(self.request.last_modified):
            headers["if-modified-since"] = self.request.last_modified
        extensions = {"sni_hostname": urlsplit(url).hostname or ""}
        for target in targets[:-1]:
            built = client.build_request("GET", target, headers=headers, extensions=extensions)
            try:
                return await client.send(built, stream=True)
            except httpx.ConnectError:
                continue  # the host's next address, as a browser would
        built = client.build_request("GET", targets[-1], headers=headers, extensions=extensions)
        return await client.send(built, stream=True)

    async def _checked(self, url: str) -> tuple[list[httpx.URL], str]:
        """The URLs to try (the host replaced by each checked address), and the Host header."""
        parsed, port = parsed_http_url(url)
        assert parsed.host  # parsed_http_url refuses a URL without one
        try:
            answers = await asyncio.get_running_loop().getaddrinfo(
                parsed.host, port, type=socket.SOCK_STREAM
            )
        except OSError as error:
            raise FetchError(f"{url}: cannot resolve {parsed.host}: {error}") from None
        addresses = allowed_addresses(url, parsed.host, answers, self.settings)
        host = parsed.netloc.decode("ascii")
        return [parsed.copy_with(host=str(address)) for address in addresses], host

    async def _result(self, response: httpx.Response, url: str) -> FetchResult:
        name, status = self.request.name, response.status_code
        if status == 304:
            return FetchResult(
                name,
                "not_modified",
                url,
                status,
                etag=response.headers.get("etag") or self.request.etag,
                last_modified=response.headers.get("last-modified") or self.request.last_modified,
            )
        if status == 410:
            return FetchResult(name, "gone", url, status, error=f"{url}: gone (HTTP 410)")
        if status != 200:
            return FetchResult(
                name,
                "failed",
                url,
                status,
                error=f"{url}: HTTP {status} {response.reason_phrase}".rstrip(),
                retry_after=response.headers.get("retry-after") if status in (429, 503) else None,
            )
        body = await self._body(response, url)
        return FetchResult(
            name,
            "fetched",
            url,
            status,
            body=body,
            content_type=response.headers.get("content-type"),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    async def _body(self, response: httpx.Response, url: str) -> bytes:
        """The decoded body, refused as soon as it passes `max_bytes` (no memory spike)."""
        cap = self.settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(f"{url}: body of {declared} bytes is over the {cap}-byte limit")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise FetchError(f"{url}: body is over the {cap}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)
