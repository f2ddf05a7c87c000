"""Return-path (VERP), mailto-unsubscribe and probe tokens: short, signed, ASCII.

A token is `<kind><number>-<mac>`: kind `b` for a delivery's envelope sender
(`bounces+b17-...@example.org`), `u` for its `mailto:` unsubscribe address
(`unsubscribe+u17-...@example.org`), both numbered by the delivery row; kind `p` for the
envelope sender of a probe, numbered by the subscriber it tests. The MAC is 80 bits of
HMAC-SHA256 over the kind and the number, in lowercase base32, so the token survives MTAs that
change the case of local parts. A token is read with a strict grammar before its MAC is checked
in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from publisher.config import Config
from publisher.errors import PublisherError

BOUNCE, UNSUBSCRIBE, PROBE = "b", "u", "p"
KINDS = (BOUNCE, UNSUBSCRIBE, PROBE)
MAC_BYTES = 10
TOKEN = re.compile(r"([bup])([1-9][0-9]{0,17})-([a-z2-7]{16})")
# A token as the detail of an address: local+token@domain.
ADDRESS_TOKEN = re.compile(r"\+([bup][1-9][0-9]{0,17}-[a-z2-7]{16})@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """What a well-formed token says, before its MAC is checked: its kind and its number (a
    delivery row's id for BOUNCE and UNSUBSCRIBE, a subscriber's id for PROBE)."""

    kind: str
    number: int


def make_return_token(secret: bytes, kind: str, number: int) -> str:
    """The token of `kind` for one delivery row (BOUNCE, UNSUBSCRIBE) or subscriber (PROBE)."""
    if kind not in KINDS or number < 1:
        raise ValueError(f"no token of kind {kind!r} for number {number}")
    return f"{kind}{number}-{_mac(secret, kind, number)}"


def read_return_token(token: str) -> TokenClaim | None:
    """The kind and delivery id a token claims, or None if it is not one (MAC not checked)."""
    match = TOKEN.fullmatch(token.lower()) if token.isascii() else None
    if match is None:
        return None
    return TokenClaim(kind=match.group(1), number=int(match.group(2)))


def verify_return_token(secret: bytes, token: str) -> TokenClaim | None:
    """The claim of a token made with `secret`, or None if it is malformed or forged."""
    claim = read_return_token(token)
    if claim is None:
        return None
    expected = make_return_token(secret, claim.kind, claim.number)
    return claim if hmac.compare_digest(expected, token.lower()) else None


def envelope_sender(config: Config, secret: bytes, delivery_id: int) -> str | None:
    """The VERP envelope sender for one delivery row; None without `[mail] bounce_address`."""
    if config.mail is None or not config.mail.bounce_address:
        return None
    token = make_return_token(secret, BOUNCE, delivery_id)
    return tagged_address(config.mail.bounce_address, token)


def probe_sender(config: Config, secret: bytes, subscriber_id: int) -> str | None:
    """The VERP envelope sender of a probe to one subscriber; None without a bounce address."""
    if config.mail is None or not config.mail.bounce_address:
        return None
    token = make_return_token(secret, PROBE, subscriber_id)
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


def _mac(secret: bytes, kind: str, number: int) -> str:
    digest = hmac.new(secret, f"return-path:{kind}:{number}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()[:MAC_BYTES]).decode("ascii").lower()
