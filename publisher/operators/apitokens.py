"""API tokens: shown once when made, kept as a SHA-256 hash, revocable, last use recorded.

A token is `pub_` and 256 random bits; being random, a plain hash keeps it as safe as a slow
one would, and lets each request find its token in one look-up.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from enum import StrEnum

from publisher.errors import PublisherError
from publisher.operators.accounts import check_user_name
from publisher.store.database import Store
from publisher.store.operators import (
    ApiToken,
    active_api_token,
    all_api_tokens,
    insert_api_token,
    record_token_use,
    revoke_api_tokens,
)

PREFIX = "pub_"
_TOKEN = re.compile(r"pub_[A-Za-z0-9_-]{43}")


class Scope(StrEnum):
    """What a token may do: read only, or change things too."""

    READ = "read"
    WRITE = "write"


class TokenError(PublisherError):
    """A token cannot be made or revoked; the message says why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create_token(store: Store, name: str, scope: str, now: datetime) -> tuple[ApiToken, str]:
    """A new token called `name`: what is stored, and the token itself (shown only now)."""
    check_user_name(name)
    if scope not in tuple(Scope):
        raise TokenError(f"unknown scope {scope!r} (one of {', '.join(Scope)})")
    token = PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as connection:
        return insert_api_token(connection, name, scope, _hash(token), now), token


def token_for(store: Store, presented: str, now: datetime) -> ApiToken | None:
    """The active token `presented` is, its use recorded; None for anything else."""
    if not _TOKEN.fullmatch(presented):
        return None
    with store.transaction() as connection:
        token = active_api_token(connection, _hash(presented))
        if token is not None:
            record_token_use(connection, token.id, now)
    return token


def list_tokens(store: Store) -> list[ApiToken]:
    """Every token, revoked ones too."""
    with store.transaction() as connection:
        return all_api_tokens(connection)


def revoke_token(store: Store, name: str, now: datetime) -> int:
    """Revoke the active tokens called `name` (or with that id); TokenError if none."""
    with store.transaction() as connection:
        revoked = revoke_api_tokens(connection, name, now)
    if not revoked:
        raise TokenError(f"no active token {name!r}")
    return revoked
