"""Send through a mail server over SMTP: one reused connection, TLS, AUTH, pipelining.

The parts: `handshake` opens a verified session (TLS, AUTH), `connection` reuses and retires
it, `session` runs one transaction on it (pipelined when offered), `failures` turns what went
wrong into the failure kinds of `protocol`, and `credentials` keeps the password out of sight.
"""

from __future__ import annotations

import logging
import re
import smtplib
import threading
from pathlib import Path

from publisher.config import SmtpConfig
from publisher.mail.mime import WireMessage
from publisher.mail.transport.connection import ReusedConnection
from publisher.mail.transport.credentials import login_credentials
from publisher.mail.transport.failures import (
    dropped_message_error,
    no_smtputf8_error,
    refused_message_error,
)
from publisher.mail.transport.handshake import Handshake, tls_context
from publisher.mail.transport.protocol import LINE_ENDING, check_envelope
from publisher.mail.transport.session import (
    Dropped,
    Phase,
    Refused,
    run_pipelined_transaction,
    run_transaction,
)

logger = logging.getLogger(__name__)


_LINE_STARTING_WITH_DOT = re.compile(rb"^\.", re.MULTILINE)


def smtp_data(message: bytes) -> bytes:
    """`message` as DATA content: CRLF line endings, leading dots doubled, ending in CRLF.CRLF."""
    if isinstance(message, WireMessage):
        return message + b".\r\n"
    crlf = message.count(b"\r\n")
    if message.count(b"\n") == crlf == message.count(b"\r"):
        # Built messages already end their lines in CRLF: counting is far cheaper than the
        # substitutions below, which would copy every message.
        text = message
    else:
        text = LINE_ENDING.sub(b"\r\n", message)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    if text.startswith(b".") or b"\n." in text:
        text = _LINE_STARTING_WITH_DOT.sub(b"..", text)
    return text + b".\r\n"


class _StaleConnection(Exception):
    """A reused connection was closed by the server before our first command: nothing was sent."""


class SmtpTransport:
    """Sends through one reused SMTP connection, opened on the first message.

    The connection is replaced after `max_per_connection` messages, after it drops, and after
    any failure that leaves its state in doubt. One transport is one connection: use one per
    thread.
    """

    def __init__(
        self,
        settings: SmtpConfig,
        *,
        password: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self._settings = settings
        self._where = f"{settings.host}:{settings.port}"
        login = login_credentials(settings, password)
        tls = tls_context(ca_file) if settings.security != "none" else None
        handshake = Handshake(settings, login, tls)
        self._connection = ReusedConnection(handshake, settings.max_per_connection)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        user = f", user={self._settings.username!r}" if self._settings.username else ""
        return f"SmtpTransport({self._where}, security={self._settings.security!r}{user})"

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Send one message; returns once the server accepted it (see `protocol` for failures)."""
        check_envelope(sender, recipient)
        data = smtp_data(message)
        with self._lock:
            try:
                self._deliver(sender, recipient, data)
            except _StaleConnection:
                logger.info("%s closed an idle connection; opening a new one", self._where)
                self._deliver(sender, recipient, data)
            finally:
                self._connection.retire_if_used_up()

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        with self._lock:
            self._connection.quit()

    def _deliver(self, sender: str, recipient: str, data: bytes) -> None:
        reused = self._connection.is_open
        connection = self._connection.open()
        options = self._mail_options(connection, sender, recipient, data)
        self._connection.message_started()
        transaction = run_transaction
        if connection.has_extn("pipelining"):
            transaction = run_pipelined_transaction
        try:
            transaction(connection, sender, recipient, data, options)
        except Refused as refused:
            self._connection.recover_from_refusal(refused)
            if reused and refused.phase is Phase.MAIL and refused.code == 421:
                raise _StaleConnection from None
            raise refused_message_error(self._where, refused, sender, recipient) from None
        except Dropped as dropped:
            self._connection.discard()
            if reused and dropped.phase is Phase.MAIL:
                raise _StaleConnection from None
            raise dropped_message_error(self._where, dropped, recipient) from dropped.error
        logger.debug("%s accepted the message to %s", self._where, recipient)

    def _mail_options(
        self, connection: smtplib.SMTP, sender: str, recipient: str, data: bytes
    ) -> list[str]:
        options = []
        if connection.has_extn("size"):
            options.append(f"SIZE={len(data)}")
        if not data.isascii() and connection.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not (sender + recipient).isascii():
            if not connection.has_extn("smtputf8"):
                raise no_smtputf8_error(self._where, sender, recipient)
            options.append("SMTPUTF8")
        return options
