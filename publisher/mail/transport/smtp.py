"""Send through a mail server over SMTP: one reused connection, TLS, AUTH, pipelining."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from publisher.config import SmtpConfig
from publisher.mail.mime import WireMessage
from publisher.mail.transport.protocol import (
    LINE_ENDING,
    DeliveryError,
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
    UncertainDelivery,
    check_envelope,
)
from publisher.mail.transport.session import (
    Dropped,
    Phase,
    Refused,
    expect,
    is_server_refusal,
    run_pipelined_transaction,
    run_transaction,
)

logger = logging.getLogger(__name__)


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


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A context that checks the server's certificate and name: against `ca_file` if given."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except OSError as error:
        raise DeliveryError(f"mail.smtp.ca_file: cannot load {ca_file}: {error}") from None


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
        self._password = password
        self._check_login_is_safe()
        self._tls = _tls_context(ca_file) if settings.security != "none" else None
        self._lock = threading.Lock()
        self._connection: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._local_hostname: str | None = None

    def __repr__(self) -> str:
        user = f", user={self._settings.username!r}" if self._settings.username else ""
        return f"SmtpTransport({self._where}, security={self._settings.security!r}{user})"

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Send one message; returns once the server accepted it (see the module for failures)."""
        check_envelope(sender, recipient)
        data = smtp_data(message)
        with self._lock:
            try:
                self._deliver(sender, recipient, data)
            except _StaleConnection:
                logger.info("%s closed an idle connection; opening a new one", self._where)
                self._deliver(sender, recipient, data)
            finally:
                self._retire_if_used_up()

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        with self._lock:
            self._quit()

    def _check_login_is_safe(self) -> None:
        username = self._settings.username
        if username is None:
            return
        if self._password is None:
            raise DeliveryError(f"mail.smtp.username {username!r} is set but no password is")
        if self._settings.security == "none" and not _is_loopback(self._settings.host):
            raise DeliveryError(
                f"mail.smtp.username is set but mail.smtp.security is 'none': the password would "
                f"cross the network to {self._where} unencrypted; use 'starttls' or 'tls'"
            )

    def _deliver(self, sender: str, recipient: str, data: bytes) -> None:
        reused = self._connection is not None
        connection = self._connected()
        options = self._mail_options(connection, sender, recipient, data)
        self._sent_on_connection += 1
        transaction = run_transaction
        if connection.has_extn("pipelining"):
            transaction = run_pipelined_transaction
        try:
            transaction(connection, sender, recipient, data, options)
        except Refused as refused:
            self._recover_from_refusal(connection, refused)
            if reused and refused.phase is Phase.MAIL and refused.code == 421:
                raise _StaleConnection from None
            raise self._refusal_error(refused, sender, recipient) from None
        except Dropped as dropped:
            self._discard()
            if reused and dropped.phase is Phase.MAIL:
                raise _StaleConnection from None
            raise self._dropped_error(dropped, recipient) from dropped.error
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
                raise self._no_smtputf8_error(sender, recipient)
            options.append("SMTPUTF8")
        return options

    def _no_smtputf8_error(self, sender: str, recipient: str) -> DeliveryError:
        problem = f"{self._where} does not support SMTPUTF8, needed for the address"
        if not sender.isascii():
            return DeliveryError(f"{problem} {sender!r} (mail.from)")
        # 553 5.6.7 is what RFC 6531 servers answer for an address they cannot take.
        return PermanentFailure(553, f"{problem} {recipient!r}")

    def _refusal_error(self, refused: Refused, sender: str, recipient: str) -> DeliveryError:
        text = (
            f"{self._where} answered {refused.code} {refused.reply} to {refused.phase.value} "
            f"(message from {sender} to {recipient})"
        )
        if 500 <= refused.code <= 599 and refused.phase is Phase.MAIL:
            # The server refuses our sender: no recipient is at fault, so no bounce is counted;
            # the run stops until the config is fixed.
            return DeliveryError(f"{text}; check [mail] from")
        if 500 <= refused.code <= 599:
            return PermanentFailure(refused.code, text)
        if refused.phase is Phase.REPLY and not 400 <= refused.code <= 499:
            return UncertainDelivery(f"{text} (a reply that says neither yes nor no)")
        if is_server_refusal(refused.code, refused.reply):
            return ServerUnavailable(text, refused.code)
        return TemporaryFailure(text, refused.code)

    def _dropped_error(self, dropped: Dropped, recipient: str) -> DeliveryError:
        if dropped.phase is Phase.REPLY:
            return UncertainDelivery(
                f"{self._where}: the connection failed after the message to {recipient} was sent, "
                f"before the server confirmed it ({dropped.error}); it may have been delivered, "
                "so do not send it again without checking"
            )
        return ServerUnavailable(
            f"{self._where}: the connection failed during {dropped.phase.value} for the message to "
            f"{recipient} ({dropped.error}); nothing was delivered"
        )

    def _recover_from_refusal(self, connection: smtplib.SMTP, refused: Refused) -> None:
        # After a plain 4xx or 5xx, RSET so the next message starts clean. 421 means the server
        # is closing, and any other reply means we no longer know what state it is in.
        if refused.code == 421 or not 400 <= refused.code <= 599:
            self._discard()
            return
        try:
            reset, _ = connection.rset()
        except OSError:
            reset = 0
        if reset != 250:
            self._discard()

    def _retire_if_used_up(self) -> None:
        if self._sent_on_connection >= self._settings.max_per_connection:
            self._quit()

    def _connected(self) -> smtplib.SMTP:
        if self._connection is None:
            self._connection = self._connect()
            self._sent_on_connection = 0
        return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _quit(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(OSError):
            self._connection.quit()
        self._discard()

    def _connect(self) -> smtplib.SMTP:
        with self._session_errors():
            connection = self._new_connection()
        try:
            with self._session_errors():
                self._open_session(connection)
        except DeliveryError:
            connection.close()
            raise
        if self._local_hostname is None:
            self._local_hostname = connection.local_hostname
        logger.debug("connected to %s", self._where)
        return connection

    @contextlib.contextmanager
    def _session_errors(self) -> Iterator[None]:
        """Turn whatever goes wrong while opening a session into the DeliveryError it means."""
        try:
            yield
        except smtplib.SMTPConnectError as error:  # a greeting other than 220
            refused = Refused(Phase.GREETING, error.smtp_code, error.smtp_error)
            raise self._session_refusal_error(refused) from None
        except Refused as refused:
            raise self._session_refusal_error(refused) from None
        except OSError as error:
            raise self._connection_error(error) from None

    def _new_connection(self) -> smtplib.SMTP:
        # The host goes to the constructor (which connects and reads the greeting), because
        # that is where smtplib takes the name that TLS checks the certificate against.
        host, port, timeout = self._settings.host, self._settings.port, self._settings.timeout
        if self._settings.security == "tls":
            return smtplib.SMTP_SSL(
                host, port, local_hostname=self._local_hostname, timeout=timeout, context=self._tls
            )
        return smtplib.SMTP(host, port, local_hostname=self._local_hostname, timeout=timeout)

    def _open_session(self, connection: smtplib.SMTP) -> None:
        """EHLO, STARTTLS and AUTH as configured."""
        self._hello(connection)
        if self._settings.security == "starttls":
            self._start_tls(connection)
        if self._settings.username is not None and self._password is not None:
            self._log_in(connection, self._settings.username, self._password)

    def _hello(self, connection: smtplib.SMTP) -> None:
        code, reply = connection.ehlo()
        if code != 250:
            code, reply = connection.helo()
        expect(Phase.HELLO, (code, reply), wanted=250)

    def _start_tls(self, connection: smtplib.SMTP) -> None:
        if not connection.has_extn("starttls"):
            raise DeliveryError(
                f"{self._where} does not offer STARTTLS and mail.smtp.security is 'starttls': "
                "refusing to send in the clear"
            )
        expect(Phase.STARTTLS, connection.starttls(context=self._tls), wanted=220)
        self._hello(connection)

    def _log_in(self, connection: smtplib.SMTP, username: str, password: str) -> None:
        if not connection.has_extn("auth"):
            raise DeliveryError(f"{self._where} does not offer AUTH, but mail.smtp.username is set")
        try:
            connection.login(username, password)
        except smtplib.SMTPAuthenticationError as error:
            raise Refused(Phase.AUTH, error.smtp_code, error.smtp_error) from None
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPException as error:
            raise DeliveryError(
                f"{self._where}: cannot log in ({error}); the server offers "
                f"AUTH {connection.esmtp_features.get('auth', '').strip()}"
            ) from None

    def _session_refusal_error(self, refused: Refused) -> DeliveryError:
        reply = self._without_secrets(refused.reply)
        text = f"{self._where} answered {refused.code} {reply} at {refused.phase.value}"
        if refused.phase is Phase.AUTH:
            text = (
                f"{self._where} refused the login for {self._settings.username!r}: "
                f"{refused.code} {reply} (check mail.smtp.username and the password in "
                f"${self._settings.password_env})"
            )
        if 400 <= refused.code <= 499:
            return ServerUnavailable(text, refused.code)
        # A 5xx here is about us (our host, login or TLS), not about any recipient.
        return DeliveryError(text)

    def _connection_error(self, error: OSError) -> DeliveryError:
        if isinstance(error, ssl.SSLCertVerificationError):
            return DeliveryError(
                f"{self._where}: the server's TLS certificate failed verification "
                f"({error.verify_message}); if a private CA signed it, set mail.smtp.ca_file "
                "to that CA's PEM file"
            )
        dropped = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
        if isinstance(error, ssl.SSLError) and not isinstance(error, dropped):
            return DeliveryError(
                f"{self._where}: the TLS handshake failed ({error.reason}); check "
                "mail.smtp.security: 'tls' is TLS from the start (port 465), "
                "'starttls' upgrades a plain connection (port 587)"
            )
        return ServerUnavailable(f"cannot connect to {self._where}: {error}")

    def _without_secrets(self, text: str) -> str:
        # A server that echoes our AUTH line would otherwise put the password in an error.
        if self._password is None:
            return text
        username = self._settings.username or ""
        for secret in (
            self._password,
            base64.b64encode(self._password.encode()).decode(),
            base64.b64encode(f"\0{username}\0{self._password}".encode()).decode(),
        ):
            text = text.replace(secret, "[password]")
        return text
