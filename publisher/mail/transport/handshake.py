"""Opening a verified SMTP session: connect, EHLO, STARTTLS or TLS with the certificate and
name checked, AUTH. Whatever goes wrong comes out as the DeliveryError it means."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

from publisher.config import SmtpConfig
from publisher.mail.transport.credentials import Credentials
from publisher.mail.transport.failures import connection_error, refused_session_error
from publisher.mail.transport.protocol import DeliveryError
from publisher.mail.transport.session import Phase, Refused, expect

logger = logging.getLogger(__name__)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A context that checks the server's certificate and name: against `ca_file` if given."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except OSError as error:
        raise DeliveryError(f"mail.smtp.ca_file: cannot load {ca_file}: {error}") from None


class Handshake:
    """Opens sessions with one server as `settings` say, each ready for its first MAIL FROM."""

    def __init__(
        self, settings: SmtpConfig, login: Credentials | None, tls: ssl.SSLContext | None
    ) -> None:
        self._settings = settings
        self._login = login
        self._tls = tls
        self._where = f"{settings.host}:{settings.port}"
        # Learnt from the first connection, so later ones skip smtplib's name lookup.
        self._local_hostname: str | None = None

    def open(self) -> smtplib.SMTP:
        """A new connection, greeted, encrypted and logged in as configured."""
        with self._failures_explained():
            connection = self._connect()
        try:
            with self._failures_explained():
                self._greet(connection)
        except DeliveryError:
            connection.close()
            raise
        if self._local_hostname is None:
            self._local_hostname = connection.local_hostname
        logger.debug("connected to %s", self._where)
        return connection

    @contextlib.contextmanager
    def _failures_explained(self) -> Iterator[None]:
        try:
            yield
        except smtplib.SMTPConnectError as error:  # a greeting other than 220
            refused = Refused(Phase.GREETING, error.smtp_code, error.smtp_error)
            raise refused_session_error(self._where, refused, self._login) from None
        except Refused as refused:
            raise refused_session_error(self._where, refused, self._login) from None
        except OSError as error:
            raise connection_error(self._where, error) from None

    def _connect(self) -> smtplib.SMTP:
        # The host goes to the constructor (which connects and reads the greeting), because
        # that is where smtplib takes the name that TLS checks the certificate against.
        host, port, timeout = self._settings.host, self._settings.port, self._settings.timeout
        if self._settings.security == "tls":
            return smtplib.SMTP_SSL(
                host, port, local_hostname=self._local_hostname, timeout=timeout, context=self._tls
            )
        return smtplib.SMTP(host, port, local_hostname=self._local_hostname, timeout=timeout)

    def _greet(self, connection: smtplib.SMTP) -> None:
        """EHLO, STARTTLS and AUTH as configured."""
        self._hello(connection)
        if self._settings.security == "starttls":
            self._start_tls(connection)
        if self._login is not None:
            self._log_in(connection, self._login)

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

    def _log_in(self, connection: smtplib.SMTP, login: Credentials) -> None:
        if not connection.has_extn("auth"):
            raise DeliveryError(f"{self._where} does not offer AUTH, but mail.smtp.username is set")
        try:
            connection.login(login.username, login.password)
        except smtplib.SMTPAuthenticationError as error:
            raise Refused(Phase.AUTH, error.smtp_code, error.smtp_error) from None
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPException as error:
            raise DeliveryError(
                f"{self._where}: cannot log in ({error}); the server offers "
                f"AUTH {connection.esmtp_features.get('auth', '').strip()}"
            ) from None
