"""What went wrong with an SMTP server, as the failure kind the caller acts on (see `protocol`).

Pure functions from a refusal, a dropped connection or a socket error, and the server's
`host:port` (`where`), to the DeliveryError that says what happened and what to do.
"""

from __future__ import annotations

import ssl

from publisher.mail.transport.credentials import Credentials
from publisher.mail.transport.protocol import (
    DeliveryError,
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
    UncertainDelivery,
)
from publisher.mail.transport.session import Dropped, Phase, Refused, is_server_refusal


def refused_message_error(
    where: str, refused: Refused, sender: str, recipient: str
) -> DeliveryError:
    """A reply that ended a mail transaction: whose fault it is and whether to try again."""
    text = (
        f"{where} answered {refused.code} {refused.reply} to {refused.phase.value} "
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


def dropped_message_error(where: str, dropped: Dropped, recipient: str) -> DeliveryError:
    """A connection lost during a mail transaction: uncertain once the content was sent."""
    if dropped.phase is Phase.REPLY:
        return UncertainDelivery(
            f"{where}: the connection failed after the message to {recipient} was sent, "
            f"before the server confirmed it ({dropped.error}); it may have been delivered, "
            "so do not send it again without checking"
        )
    return ServerUnavailable(
        f"{where}: the connection failed during {dropped.phase.value} for the message to "
        f"{recipient} ({dropped.error}); nothing was delivered"
    )


def no_smtputf8_error(where: str, sender: str, recipient: str) -> DeliveryError:
    """An address that needs SMTPUTF8 on a server without it: the sender's is the config's
    fault, a recipient's fails that recipient alone."""
    problem = f"{where} does not support SMTPUTF8, needed for the address"
    if not sender.isascii():
        return DeliveryError(f"{problem} {sender!r} (mail.from)")
    # 553 5.6.7 is what RFC 6531 servers answer for an address they cannot take.
    return PermanentFailure(553, f"{problem} {recipient!r}")


def refused_session_error(where: str, refused: Refused, login: Credentials | None) -> DeliveryError:
    """A reply that refused the greeting, EHLO, STARTTLS or AUTH, with no password shown."""
    reply = login.scrubbed(refused.reply) if login else refused.reply
    text = f"{where} answered {refused.code} {reply} at {refused.phase.value}"
    if refused.phase is Phase.AUTH and login:
        text = (
            f"{where} refused the login for {login.username!r}: {refused.code} {reply} "
            f"(check mail.smtp.username and the password in ${login.password_env})"
        )
    if 400 <= refused.code <= 499:
        return ServerUnavailable(text, refused.code)
    # A 5xx here is about us (our host, login or TLS), not about any recipient.
    return DeliveryError(text)


def connection_error(where: str, error: OSError) -> DeliveryError:
    """A socket or TLS error while opening a session: a certificate or TLS setting to fix, or
    a server that is not there."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return DeliveryError(
            f"{where}: the server's TLS certificate failed verification "
            f"({error.verify_message}); if a private CA signed it, set mail.smtp.ca_file "
            "to that CA's PEM file"
        )
    dropped = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
    if isinstance(error, ssl.SSLError) and not isinstance(error, dropped):
        return DeliveryError(
            f"{where}: the TLS handshake failed ({error.reason}); check "
            "mail.smtp.security: 'tls' is TLS from the start (port 465), "
            "'starttls' upgrades a plain connection (port 587)"
        )
    return ServerUnavailable(f"cannot connect to {where}: {error}")
