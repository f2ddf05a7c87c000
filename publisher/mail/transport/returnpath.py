"""Return-path (VERP) and mailto-unsubscribe tokens: short, signed, ASCII, naming a delivery row.

A token is `<kind><delivery id>-<mac>`: kind `b` for the envelope sender
(`bounces+b17-...@example.org`), `u` for the `mailto:` unsubscribe address
(`unsubscribe+u17-...@example.org`). The MAC is 80 bits of HMAC-SHA256 over the kind and the
id, in lowercase base32, so the token survives MTAs that change the case of local parts. A
token is read with a strict grammar before its MAC is checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from publisher.config import Config
from publisher.errors import PublisherError

BOUNCE, UNSUBSCRIBE = "b", "u"
MAC_BYTES = 10
TOKEN = re.compile(r"([bu])([1-9][0-9]{0,17})-([a-z2-7]{16})")
# A token as the detail of an address: local+token@domain.
ADDRESS_TOKEN = re.compile(r"\+([bu][1-9][0-9]{0,17}-[a-z2-7]{16})@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """What a well-formed token says, before its MAC is checked."""

    kind: str
    delivery_id: int


def make_return_token(secret: bytes, kind: str, delivery_id: int) -> str:
    """The token of `kind` (BOUNCE or UNSUBSCRIBE) for one delivery row."""
    if kind not in (BOUNCE, UNSUBSCRIBE) or delivery_id < 1:
        raise ValueError(f"no token of kind {kind!r} for delivery {delivery_id}")
    return f"{kind}{delivery_id}-{_mac(secret, kind, delivery_id)}"


def read_return_token(token: str) -> TokenClaim | None:
    """The kind and delivery id a token claims, or None if it is not one (MAC not checked)."""
    match = TOKEN.fullmatch(token.lower()) if token.isascii() else None
    if match is None:
        return None
    return TokenClaim(kind=match.group(1), delivery_id=int(match.group(2)))


def verify_return_token(secret: bytes, token: str) -> TokenClaim | None:
    """The claim of a token made with `secret`, or None if it is malformed or forged."""
    claim = read_return_token(token)
    if claim is None:
        return None
    expected = make_return_token(secret, claim.kind, claim.delivery_id)
    return claim if hmac.compare_digest(expected, token.lower()) else None


def envelope_sender(config: Config, secret: bytes, delivery_id: int) -> str | None:
    """The VERP envelope sender for one delivery row; None without `[mail] bounce_address`."""
    if config.mail is None or not config.mail.bounce_address:
        return None
    token = make_return_token(secret, BOUNCE, delivery_id)
    return tagged_address(config.mail.bounce_address, token)


def mailto_token(config: Config, secret: bytes, delivery_id: int) -> str | None:
    """The token for one delivery row's `mailto:` unsubscribe; None without a bounce address."""
    if config.mail is None or not config.mail.bounce_address:
        return None
    return make_return_token(secret, UNSUBSCRIBE, delivery_id)


def tagged_address(address: str, token: str) -> str:
    """`local@domain` as `local+token@domain`."""
    local, at, domain = address.rpartition("@")
    if not at or not local or "+" in local:
        raise PublisherError(f"{address!r} cannot carry a token: it needs local@domain, no '+'")
    return f"{local}+{token}@{domain}"


def tokens_in(text: str) -> list[str]:
    """Every token found as the detail of an address (`+token@`) in `text`, lowercased."""
    return [match.group(1).lower() for match in ADDRESS_TOKEN.finditer(text)]


def _mac(secret: bytes, kind: str, delivery_id: int) -> str:
    digest = hmac.new(secret, f"return-path:{kind}:{delivery_id}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()[:MAC_BYTES]).decode("ascii").lower()
