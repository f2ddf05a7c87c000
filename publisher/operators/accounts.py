"""Admin accounts: a name and an argon2id password hash; signing in checks the password.

A name unknown to the store costs the same argon2 check as a wrong password, so the time an
answer takes does not tell which names exist.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from publisher.config import Config
from publisher.errors import PublisherError
from publisher.store.database import Store
from publisher.store.operators import (
    AdminUser,
    admin_user_count,
    admin_user_with_hash,
    all_admin_users,
    delete_admin_user,
    insert_admin_user,
    record_sign_in,
)

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class AccountError(PublisherError):
    """An admin account cannot be made or changed; the message says why."""


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _stand_in_hash() -> str:
    return _hasher().hash("a password nobody has")


def check_user_name(name: str) -> str:
    """A user name: letters, digits and `._@-`, at most 64 characters."""
    if not USER_NAME.fullmatch(name):
        raise AccountError(
            f"bad user name {name!r}: use 1 to 64 letters, digits, '.', '_', '@' or '-'"
        )
    return name


def check_password(password: str) -> str:
    """A password long enough to resist guessing, short enough to hash."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def add_user(store: Store, name: str, password: str, now: datetime) -> AdminUser:
    """Make an admin user; AccountError if the name is taken or the password too short."""
    name, password = check_user_name(name), check_password(password)
    password_hash = _hasher().hash(password)
    try:
        with store.transaction() as connection:
            return insert_admin_user(connection, name, password_hash, now)
    except IntegrityError:
        raise AccountError(f"there is already an admin user {name!r}") from None


def list_users(store: Store) -> list[AdminUser]:
    """Every admin user, by name."""
    with store.transaction() as connection:
        return all_admin_users(connection)


def remove_user(store: Store, name: str) -> None:
    """Remove an admin user and end their sessions; AccountError if there is none."""
    with store.transaction() as connection:
        if not delete_admin_user(connection, name):
            raise AccountError(f"no admin user {name!r}")


def authenticate(store: Store, name: str, password: str, now: datetime) -> AdminUser | None:
    """The user whose name and password these are, or None; the sign-in is recorded."""
    from argon2.exceptions import InvalidHashError, VerificationError

    with store.transaction() as connection:
        found = admin_user_with_hash(connection, name)
    hasher = _hasher()
    try:
        hasher.verify(found[1] if found else _stand_in_hash(), password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        return None
    if found is None:
        return None
    user, password_hash = found
    new_hash = hasher.hash(password) if hasher.check_needs_rehash(password_hash) else None
    with store.transaction() as connection:
        record_sign_in(connection, user.id, now, new_hash)
    return user


def admin_enabled(config: Config, store: Store) -> bool:
    """Whether `/admin/` and `/api/` answer: `[admin] enabled`, else once a user exists."""
    if config.admin.enabled is not None:
        return config.admin.enabled
    with store.transaction() as connection:
        return admin_user_count(connection) > 0
