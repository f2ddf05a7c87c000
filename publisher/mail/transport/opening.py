"""The transport the config names, DKIM-signing what it sends when `[mail.dkim]` is set."""

from __future__ import annotations

from collections.abc import Mapping

from publisher.config import Config
from publisher.mail.mime import WireMessage
from publisher.mail.transport.credentials import smtp_password
from publisher.mail.transport.dkim import DkimSigner, load_signer
from publisher.mail.transport.maildir import MaildirTransport
from publisher.mail.transport.protocol import DeliveryError, Transport
from publisher.mail.transport.smtp import SmtpTransport


def open_transport(config: Config, environ: Mapping[str, str]) -> Transport:
    """The transport `[mail] transport` names, with the SMTP password read from `environ`.

    With `[mail.dkim]` every message it sends is signed (the key read from `environ` or its
    file): digests, tests, confirmations and welcomes all leave through here.

    A transport never waits: pacing (`[mail.smtp] rate_limit`) is the delivery worker's.
    """
    transport = _unsigned_transport(config, environ)
    signer = load_signer(config, environ)
    return transport if signer is None else SigningTransport(transport, signer)


def _unsigned_transport(config: Config, environ: Mapping[str, str]) -> Transport:
    mail = config.mail
    if mail is None:
        raise DeliveryError(f"{config.path}: mail: a [mail] section is needed to send mail")
    if mail.transport == "maildir":
        return MaildirTransport(config.maildir)
    if mail.smtp is None:
        raise DeliveryError(f"{config.path}: mail.smtp: transport 'smtp' needs a [mail.smtp] host")
    return SmtpTransport(
        mail.smtp,
        password=smtp_password(mail.smtp, environ, config.path),
        ca_file=config.smtp_ca_file,
    )


class SigningTransport:
    """Another transport, each message DKIM-signed on its way in."""

    def __init__(self, inner: Transport, signer: DkimSigner) -> None:
        self.inner = inner
        self.signer = signer

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Sign `message`, then hand it to the inner transport."""
        signed = self.signer.sign(message)
        # The signature header is folded with CRLF and leading spaces: still in wire form.
        self.inner.send(
            sender, recipient, WireMessage(signed) if isinstance(message, WireMessage) else signed
        )

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()
