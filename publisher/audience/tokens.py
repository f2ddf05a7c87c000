"""Subscriber tokens: HMAC-signed, unguessable, nothing secret stored, compared in constant time.

A token is `<subscriber id>.<issued>.<mac>`: the MAC (192 bits) covers the purpose, the id, the
subscriber's current nonce and the issue time. Changing the nonce revokes every earlier token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from publisher.errors import PublisherError

MAC_BYTES = 24
SECRET_BYTES = 32
SECRET_FILE_NAME = ".publisher-secret"  # noqa: S105 (a file name)
# The largest id a subscriber row can have (a 32-bit signed column on PostgreSQL).
MAX_SUBSCRIBER_ID = 2**31 - 1
# `<id>.<issued>.<mac>` in ASCII only: decimal digits without sign, the MAC's exact base64url.
_MAC_LENGTH = (MAC_BYTES * 4 + 2) // 3  # unpadded base64url
_TOKEN = re.compile(rf"([0-9]{{1,10}})\.([0-9]{{1,12}})\.[A-Za-z0-9_-]{{{_MAC_LENGTH}}}")


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """What a token says before it is checked against the store."""

    subscriber_id: int
    issued: int


NONCE_BYTES = 16


def new_nonce() -> str:
    """A fresh per-subscriber nonce (128 random bits)."""
    return secrets.token_urlsafe(NONCE_BYTES)


def new_nonces(count: int) -> list[str]:
    """`count` fresh nonces, as `new_nonce` makes them, from one read of the random source."""
    random = secrets.token_bytes(NONCE_BYTES * count)
    return [
        base64.urlsafe_b64encode(random[start : start + NONCE_BYTES]).rstrip(b"=").decode()
        for start in range(0, len(random), NONCE_BYTES)
    ]


def make_token(secret: bytes, purpose: str, subscriber_id: int, nonce: str, issued: int = 0) -> str:
    """A token for `purpose` ("unsubscribe", "confirm") of one subscriber."""
    return f"{subscriber_id}.{issued}.{_mac(secret, purpose, subscriber_id, nonce, issued)}"


def read_token(token: str) -> TokenClaim | None:
    """The id and issue time a token claims, or None if it is malformed or out of range.

    Read with an ASCII-only grammar (`str.isdigit` would take "²", which `int` refuses), and
    the id is range-checked here, so no query ever sees a number its column cannot hold.
    """
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    subscriber_id = int(match.group(1))
    if subscriber_id > MAX_SUBSCRIBER_ID:
        return None
    return TokenClaim(subscriber_id=subscriber_id, issued=int(match.group(2)))


def token_is_valid(secret: bytes, purpose: str, token: str, nonce: str) -> bool:
    """Whether `token` was made with this secret, purpose and nonce (constant-time compare)."""
    claim = read_token(token)
    if claim is None:
        return False
    expected = make_token(secret, purpose, claim.subscriber_id, nonce, claim.issued)
    return hmac.compare_digest(expected.encode(), token.encode())


def _mac(secret: bytes, purpose: str, subscriber_id: int, nonce: str, issued: int) -> str:
    message = f"{purpose}:{subscriber_id}:{nonce}:{issued}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def load_secret(variable: str, fallback_folder: Path, environ: Mapping[str, str]) -> bytes:
    """The signing secret: from the environment variable, else a key file made once (mode 0600).

    The key file lives beside the config, outside version control (see .gitignore), so a new
    site works at once; production sites set the variable.
    """
    value = environ.get(variable)
    if value:
        if len(value) < 16:
            raise PublisherError(f"{variable} must hold at least 16 characters")
        return value.encode()
    path = fallback_folder / SECRET_FILE_NAME
    if not path.exists():
        # Written whole under a temporary name, then linked: two processes agree on one key.
        temporary = path.with_name(f"{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_urlsafe(SECRET_BYTES).encode())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()
