"""The SMTP login: the password read from the environment, never sent in the clear to another
host, never shown in an error message."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from publisher.config import SmtpConfig
from publisher.mail.transport.protocol import DeliveryError


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and password for AUTH, and the variable the password came from."""

    username: str
    password: str = field(repr=False)
    password_env: str | None = None

    def scrubbed(self, text: str) -> str:
        """`text` with the password, alone or in an AUTH line, replaced by `[password]`.

        A server that echoes our AUTH line would otherwise put the password in an error.
        """
        for secret in (
            self.password,
            base64.b64encode(self.password.encode()).decode(),
            base64.b64encode(f"\0{self.username}\0{self.password}".encode()).decode(),
        ):
            text = text.replace(secret, "[password]")
        return text


def smtp_password(settings: SmtpConfig, environ: Mapping[str, str], path: Path) -> str | None:
    """The password in the variable `mail.smtp.password_env` names; None without a username."""
    variable = settings.password_env
    if settings.username is None:
        if variable is not None:
            raise DeliveryError(
                f"{path}: mail.smtp.password_env is set but mail.smtp.username is not"
            )
        return None
    if variable is None:
        raise DeliveryError(
            f"{path}: mail.smtp.password_env: required with mail.smtp.username "
            "(the name of the environment variable that holds the password)"
        )
    password = environ.get(variable)
    if not password:
        raise DeliveryError(
            f"{path}: mail.smtp.password_env: the environment variable {variable} is not set "
            f"or empty; it must hold the SMTP password for {settings.username!r}"
        )
    return password


def login_credentials(settings: SmtpConfig, password: str | None) -> Credentials | None:
    """The login `settings` ask for, or None; DeliveryError if it would cross the network
    unencrypted or has no password."""
    username = settings.username
    if username is None:
        return None
    if password is None:
        raise DeliveryError(f"mail.smtp.username {username!r} is set but no password is")
    if settings.security == "none" and not _is_loopback(settings.host):
        raise DeliveryError(
            f"mail.smtp.username is set but mail.smtp.security is 'none': the password would "
            f"cross the network to {settings.host}:{settings.port} unencrypted; use 'starttls' "
            "or 'tls'"
        )
    return Credentials(username, password, settings.password_env)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
