"""Operators in the store: admin users, their sessions, and API tokens (all kept hashed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.schema import admin_sessions, admin_users, api_tokens


@dataclass(frozen=True, slots=True)
class AdminUser:
    """Someone who may sign in to the dashboard."""

    id: int
    name: str
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token for the HTTP API, as listed: never its secret, only what it may do."""

    id: int
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


_USER_COLUMNS = (
    admin_users.c.id,
    admin_users.c.name,
    admin_users.c.created_at,
    admin_users.c.last_login_at,
)
_TOKEN_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.scope,
    api_tokens.c.created_at,
    api_tokens.c.last_used_at,
    api_tokens.c.revoked_at,
)


# Users --------------------------------------------------------------------------------------


def insert_admin_user(
    connection: Connection, name: str, password_hash: str, now: datetime
) -> AdminUser:
    """Add a user; IntegrityError if the name is taken."""
    user_id = connection.execute(
        admin_users.insert()
        .values(name=name, password_hash=password_hash, created_at=now)
        .returning(admin_users.c.id)
    ).scalar_one()
    return AdminUser(int(user_id), name, now, None)


def admin_user_with_hash(connection: Connection, name: str) -> tuple[AdminUser, str] | None:
    """The user called `name` and their password hash, or None."""
    row = connection.execute(
        sa.select(*_USER_COLUMNS, admin_users.c.password_hash).where(admin_users.c.name == name)
    ).first()
    if row is None:
        return None
    return AdminUser(row.id, row.name, row.created_at, row.last_login_at), str(row.password_hash)


def all_admin_users(connection: Connection) -> list[AdminUser]:
    """Every admin user, by name."""
    rows = connection.execute(sa.select(*_USER_COLUMNS).order_by(admin_users.c.name))
    return [AdminUser(**row._mapping) for row in rows]


def admin_user_count(connection: Connection) -> int:
    """How many admin users there are."""
    return int(connection.scalar(sa.select(sa.func.count()).select_from(admin_users)) or 0)


def delete_admin_user(connection: Connection, name: str) -> bool:
    """Remove a user and their sessions; False if there was none."""
    user_id = connection.scalar(sa.select(admin_users.c.id).where(admin_users.c.name == name))
    if user_id is None:
        return False
    connection.execute(admin_sessions.delete().where(admin_sessions.c.user_id == user_id))
    connection.execute(admin_users.delete().where(admin_users.c.id == user_id))
    return True


def record_sign_in(
    connection: Connection, user_id: int, now: datetime, new_hash: str | None = None
) -> None:
    """Note a successful sign-in; store a stronger hash of the same password if given."""
    values: dict[str, object] = {"last_login_at": now}
    if new_hash is not None:
        values["password_hash"] = new_hash
    connection.execute(admin_users.update().where(admin_users.c.id == user_id).values(**values))


# Sessions -----------------------------------------------------------------------------------


def insert_admin_session(
    connection: Connection, id_hash: str, user_id: int, now: datetime, expires_at: datetime
) -> None:
    """Keep a new session, and drop every session that has expired."""
    connection.execute(admin_sessions.delete().where(admin_sessions.c.expires_at <= now))
    connection.execute(
        admin_sessions.insert().values(
            id_hash=id_hash, user_id=user_id, created_at=now, expires_at=expires_at
        )
    )


def session_owner(connection: Connection, id_hash: str, now: datetime) -> AdminUser | None:
    """The user of an unexpired session, or None."""
    row = connection.execute(
        sa.select(*_USER_COLUMNS)
        .join(admin_sessions, admin_sessions.c.user_id == admin_users.c.id)
        .where(admin_sessions.c.id_hash == id_hash, admin_sessions.c.expires_at > now)
    ).first()
    return None if row is None else AdminUser(**row._mapping)


def delete_admin_session(connection: Connection, id_hash: str) -> None:
    """End a session."""
    connection.execute(admin_sessions.delete().where(admin_sessions.c.id_hash == id_hash))


# API tokens ---------------------------------------------------------------------------------


def insert_api_token(
    connection: Connection, name: str, scope: str, token_hash: str, now: datetime
) -> ApiToken:
    """Keep a new token by its hash."""
    token_id = connection.execute(
        api_tokens.insert()
        .values(name=name, scope=scope, token_hash=token_hash, created_at=now)
        .returning(api_tokens.c.id)
    ).scalar_one()
    return ApiToken(int(token_id), name, scope, now, None, None)


def active_api_token(connection: Connection, token_hash: str) -> ApiToken | None:
    """The unrevoked token with this hash, or None."""
    row = connection.execute(
        sa.select(*_TOKEN_COLUMNS).where(
            api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else ApiToken(**row._mapping)


def record_token_use(connection: Connection, token_id: int, now: datetime) -> None:
    """Note when a token was last used."""
    connection.execute(
        api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=now)
    )


def all_api_tokens(connection: Connection) -> list[ApiToken]:
    """Every token, revoked ones too, oldest first."""
    rows = connection.execute(sa.select(*_TOKEN_COLUMNS).order_by(api_tokens.c.id))
    return [ApiToken(**row._mapping) for row in rows]


def revoke_api_tokens(connection: Connection, name: str, now: datetime) -> int:
    """Revoke every active token called `name` (or with that id); how many were."""
    match = api_tokens.c.name == name
    if name.isdecimal():
        match = sa.or_(match, api_tokens.c.id == int(name))
    revoked = connection.execute(
        api_tokens.update().where(match, api_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return int(revoked.rowcount)
