"""Local preview: pages whose links and images point at the server the browser asked.

Pages, feeds and archived editions name the site by its public URL (`[site] url`), so a writer
browsing `publisher serve` on 127.0.0.1 would leave for the public site at the first click and
see its images (or none). Here the site's URL in a text answer is replaced by the URL the
request reached, when `serve --preview` asks for it, or else per request when its Host is a
loopback address: a proxy in front of 127.0.0.1 passes the public Host on, and gets the site's
URLs. Cache headers stay as they are.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.web.security import origin_of

# Text answers whose bytes name the site's URL; images and other files pass untouched.
_TEXT_TYPES = ("text/", "application/xml", "application/rss+xml", "application/atom+xml")
_JSON_TYPES = ("application/json", "application/feed+json")
_LOOPBACK_NAMES = ("localhost", "localhost.")


def is_loopback_host(host: str) -> bool:
    """Whether a Host header (name or address, with or without a port) is this machine."""
    if host.startswith("["):  # [IPv6]:port
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LocalPreview:
    """ASGI middleware: the site's public origins, in text answers, become the request's own."""

    def __init__(self, app: ASGIApp, site_urls: Collection[str], always: bool = False) -> None:
        self.app = app
        self.origins = sorted({origin_of(url) for url in site_urls} - {""}, key=len, reverse=True)
        self.always = always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not host or not (self.always or is_loopback_host(host)):
            await self.app(scope, receive, send)
            return
        own = f"{scope.get('scheme', 'http')}://{host}".encode("latin-1")
        # Uncompressed answers, so their text can be read and rewritten.
        plain = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
        await self.app({**scope, "headers": plain}, receive, _Rewriter(send, self.origins, own))


class _Rewriter:
    """Holds a text answer's start until its body is whole, then sends both rewritten."""

    def __init__(self, send: Send, origins: Collection[str], own: bytes) -> None:
        self.send, self.own = send, own
        self.origins = [origin.encode("latin-1") for origin in origins]
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if _is_text(Headers(raw=message.get("headers", []))):
                self.start = message
                return
        elif message["type"] == "http.response.body" and self.start is not None:
            self.chunks.append(bytes(message.get("body", b"")))
            if message.get("more_body", False):
                return
            body = self._rewritten(b"".join(self.chunks))
            start, self.start = self.start, None
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            if "content-length" in headers:
                headers["content-length"] = str(len(body))
            await self.send({**start, "headers": headers.raw})
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await self.send(message)

    def _rewritten(self, body: bytes) -> bytes:
        for origin in self.origins:
            body = body.replace(origin + b"/", self.own + b"/")
        return body


def _is_text(headers: Headers) -> bool:
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if headers.get("content-encoding"):
        return False
    return kind.startswith(_TEXT_TYPES) or kind in _JSON_TYPES
