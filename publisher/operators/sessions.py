"""Dashboard sessions: a random id in a signed cookie, kept in the store by its hash.

The cookie is `<id>.<mac>`: 128 random bits, and an HMAC-SHA256 of them under the site's
secret, so a cookie that was never issued here is refused before the store is asked. The
store keeps only the SHA-256 of the id and when the session expires: a copy of the table
opens no session, and signing out or removing the user ends it at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from publisher.store.database import Store
from publisher.store.operators import (
    AdminUser,
    delete_admin_session,
    insert_admin_session,
    session_owner,
)

_COOKIE = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{32})")


def _mac(secret: bytes, session_id: str) -> str:
    digest = hmac.new(secret, f"admin-session:{session_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def _stored_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def cookie_value(secret: bytes, session_id: str) -> str:
    """The session cookie's value: the id and its MAC."""
    return f"{session_id}.{_mac(secret, session_id)}"


def session_id_from_cookie(secret: bytes, value: str | None) -> str | None:
    """The session id a cookie carries if it was signed here, else None."""
    shape = _COOKIE.fullmatch(value or "")
    if shape is None:
        return None
    session_id, mac = shape.groups()
    return session_id if hmac.compare_digest(mac, _mac(secret, session_id)) else None


def start_session(store: Store, user: AdminUser, now: datetime, lifetime: timedelta) -> str:
    """A new session for `user`, ending `lifetime` from now; returns its id."""
    session_id = secrets.token_urlsafe(16)
    with store.transaction() as connection:
        insert_admin_session(connection, _stored_hash(session_id), user.id, now, now + lifetime)
    return session_id


def session_user(store: Store, session_id: str, now: datetime) -> AdminUser | None:
    """Whose session this is, while it lasts; None once it expired or ended."""
    with store.transaction() as connection:
        return session_owner(connection, _stored_hash(session_id), now)


def end_session(store: Store, session_id: str) -> None:
    """Sign out: the session works no more."""
    with store.transaction() as connection:
        delete_admin_session(connection, _stored_hash(session_id))
