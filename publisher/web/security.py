"""What keeps the web pages safe: signed form tokens, a per-client rate limit, response headers.

Forms (CSRF): a signed double submit, with nothing stored on the server. Each browser gets a
random cookie (`publisher_csrf`: 128 bits, HttpOnly, SameSite=Strict, Secure over HTTPS) and
each form a hidden field `<issued>.<mac>`, where the MAC is HMAC-SHA256(secret,
"csrf:<form>:<cookie>:<issued>"). A POST passes when the cookie came back, the field's MAC
matches it (compared in constant time) and the field is younger than `FORM_LIFETIME`. Another
site can neither read the cookie nor sign a value it planted, so it cannot make a field that
passes.

Rate limit: counted in the store (`web.ratelimit`), so every process shares it. The client
is the connection's peer address as uvicorn reports it: behind a reverse proxy listed in
`[web] trusted_proxies`, the address that proxy puts in X-Forwarded-For. IPv6 clients count per
/64 network, since one machine commonly holds a whole /64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "publisher_csrf"
CSRF_FIELD = "csrf_token"
FORM_LIFETIME = timedelta(days=1)
# A form token issued this far in the future (another server's clock) still counts.
CLOCK_SKEW_SECONDS = 300
_COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")
_MAC_BYTES = 24
# `<issued>.<mac>`, ASCII only: `str.isdigit` would take "²", which `int` then refuses.
_FIELD_SHAPE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{32})")
_DECIMAL = re.compile(r"[0-9]{1,20}")
# Every form here is a few short fields: a larger request body is refused with 413.
MAX_BODY_BYTES = 16 * 1024

# Our own pages: one stylesheet of ours, images from here or any HTTPS host, no scripts at all.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "media-src 'self' https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# An archived edition is an email: a <style> block and style attributes, images anywhere.
ARCHIVE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
# A file from the content folder, opened on its own (an SVG could hold a script): a sandbox.
MEDIA_POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
)
SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    # Confirm and unsubscribe links carry their token in the path: never send it to another
    # site. Same-origin requests keep theirs, so a sign-up's `Origin` names the page it came from.
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)


def new_csrf_cookie() -> str:
    """A fresh browser cookie for form tokens: 128 random bits."""
    return secrets.token_urlsafe(16)


def csrf_cookie_is_well_formed(value: str | None) -> bool:
    """Whether a cookie value could be one `new_csrf_cookie` made."""
    return value is not None and bool(_COOKIE_SHAPE.fullmatch(value))


def csrf_field(secret: bytes, form: str, cookie: str, issued: int) -> str:
    """The hidden field value for `form`, bound to the browser's cookie and the issue time."""
    return f"{issued}.{_csrf_mac(secret, form, cookie, issued)}"


def csrf_field_is_valid(secret: bytes, form: str, cookie: str | None, field: str, now: int) -> bool:
    """Whether `field` was made for this form and cookie, and is not too old."""
    shape = _FIELD_SHAPE.fullmatch(field)
    if not csrf_cookie_is_well_formed(cookie) or shape is None:
        return False
    assert cookie is not None
    issued, mac = int(shape.group(1)), shape.group(2)
    if not -CLOCK_SKEW_SECONDS <= now - issued <= FORM_LIFETIME.total_seconds():
        return False
    expected = _csrf_mac(secret, form, cookie, issued)
    return hmac.compare_digest(expected.encode(), mac.encode())


def _csrf_mac(secret: bytes, form: str, cookie: str, issued: int) -> str:
    message = f"csrf:{form}:{cookie}:{issued}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def client_key(host: str | None) -> str:
    """What the rate limit counts by: the IPv4 address, or the IPv6 /64 network."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may go ahead; if not, how many seconds until it could."""

    allowed: bool
    retry_after: int = 0


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes fails with 413 as the app reads it.

    Checked against Content-Length before the first byte is read, and counted as it arrives
    (a chunked body has no length). The HTTPException reaches the app's own error page; a
    request whose body is never read is answered as usual, its body left unread.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        prefix_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app, self.limit = app, limit
        self.prefix_limits = dict(prefix_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        received = 0
        path = str(scope.get("path", ""))
        limit = next(
            (size for prefix, size in self.prefix_limits.items() if path.startswith(prefix)),
            self.limit,
        )

        async def limited_receive() -> Message:
            nonlocal received
            if _DECIMAL.fullmatch(declared) and int(declared) > limit:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, and a CSP unless it has one."""

    def __init__(self, app: ASGIApp, policy: str = PAGE_POLICY) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", self.policy)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                if https:
                    headers.setdefault("strict-transport-security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def set_csrf_cookie(response: Response, request: Request, cookie: str) -> None:
    """Set the form-token cookie: long enough for the newest form on the page, HttpOnly,
    SameSite=Strict, Secure under https."""
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        max_age=int(FORM_LIFETIME.total_seconds()) + CLOCK_SKEW_SECONDS,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an absolute URL, lowercased, or "" for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def posted_from(headers: Headers, allowed: Collection[str]) -> bool:
    """Whether a POST came from a page of one of the `allowed` origins.

    A form on a public page holds no token, so that any cache or static host can keep the page:
    a browser names the page a POST came from in `Origin` (every current browser, on every
    POST), else in `Referer`; another site cannot forge either. A request that names neither
    is refused.
    """
    origin = headers.get("origin", "")
    if origin in ("", "null"):
        origin = origin_of(headers.get("referer", ""))
    return origin.lower() in allowed if origin else False
