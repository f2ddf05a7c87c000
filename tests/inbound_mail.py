"""Real-format inbound messages (tests/mail/*.eml) with their tokens filled in."""

from __future__ import annotations

from pathlib import Path

MAIL = Path(__file__).resolve().parent / "mail"


def inbound_message(
    name: str, bounce_token: str | None = None, unsubscribe_token: str = ""
) -> bytes:
    """The fixture `name`.eml; without `bounce_token` the return path is the bare address."""
    raw = (MAIL / f"{name}.eml").read_bytes()
    if bounce_token is None:
        raw = raw.replace(b"+VERPTOKEN", b"")
    else:
        raw = raw.replace(b"VERPTOKEN", bounce_token.encode("ascii"))
    return raw.replace(b"UNSUBTOKEN", unsubscribe_token.encode("ascii"))
