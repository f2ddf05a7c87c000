"""Pages made on request, answered conditionally: an ETag from the bytes sent, and 304 for it.

A page's ETag is a hash of its rendered bytes, so any change a reader could see (an edited
article, a new edition, another template) gives a new one, and an unchanged page revalidates
with a 304 and no body. Pages are public for five minutes, then served stale while they are
revalidated (`PUBLIC_CACHING`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from publisher.web.files import PUBLIC_CACHING, etag_matches

PAGE_CACHING = PUBLIC_CACHING
# Headers a 304 repeats (RFC 9110 section 15.4.5), besides the security headers added outside.
_KEPT_ON_304 = ("cache-control", "content-location", "date", "etag", "expires", "vary")


def bytes_etag(data: bytes, salt: str = "") -> str:
    """A strong ETag naming `data` (and `salt`, when the bytes alone are not the whole story)."""
    digest = hashlib.sha256(salt.encode("utf-8") + b"\0" + data).hexdigest()[:32]
    return f'"{digest}"'


def answer_conditionally(request: Request, response: Response, etag: str | None = None) -> Response:
    """`response` with its ETag (by default from its body), or a 304 if the client has it."""
    etag = etag or bytes_etag(bytes(response.body))
    response.headers["etag"] = etag
    response.headers.setdefault("cache-control", PAGE_CACHING)
    if not etag_matches(request.headers.get("if-none-match", ""), (etag,)):
        return response
    kept: Mapping[str, str] = {
        key: value for key, value in response.headers.items() if key in _KEPT_ON_304
    }
    not_modified = Response(status_code=304, headers=dict(kept))
    for key, value in response.headers.items():
        if key == "set-cookie":
            not_modified.headers.append(key, value)
    return not_modified
