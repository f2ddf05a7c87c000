"""The confirmation message a web sign-up receives: rendered from templates, built as MIME bytes.

A pure core: values in, a message out. The wording lives in `web/confirm-email.txt.j2` and
`web/confirm-email-subject.txt.j2`. The message is plain text (UTF-8, quoted-printable), with
From, To, Subject, Date, Message-ID and `Auto-Submitted: auto-generated`; a line break in any
header value is refused with a MessageError naming the header, as for digests.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import idna
import jinja2

from publisher.config import Config, DigestConfig
from publisher.messages import (
    Envelope,
    MessageError,
    address_header,
    one_address,
    text_header,
)

BODY_TEMPLATE = "web/confirm-email.txt.j2"
SUBJECT_TEMPLATE = "web/confirm-email-subject.txt.j2"


@dataclass(frozen=True, slots=True)
class ConfirmationText:
    """The rendered subject line and body of one confirmation message."""

    subject: str
    body: str


def render_confirmation(
    environment: jinja2.Environment,
    config: Config,
    name: str,
    email: str,
    digests: tuple[DigestConfig, ...],
    confirm_url: str,
    expires: datetime,
) -> ConfirmationText:
    """The subject and body asking `email` to confirm its subscription to `digests`."""
    context: dict[str, Any] = {
        "site": config.site,
        "zone": config.site.zone,
        "name": name,
        "email": email,
        "digests": digests,
        "confirm_url": confirm_url,
        "expires": expires,
        "postal_address": config.mail.postal_address if config.mail else "",
    }
    subject = environment.get_template(SUBJECT_TEMPLATE).render(context).strip()
    body = environment.get_template(BODY_TEMPLATE).render(context)
    return ConfirmationText(subject, body)


def confirmation_message(
    config: Config, name: str, email: str, text: ConfirmationText, now: datetime
) -> tuple[Envelope, bytes]:
    """The envelope and bytes of a confirmation message to `email`.

    Address and subject headers are written by the same code as digest messages, so a name
    such as `=?utf-8?q?a=2C_b=40evil=2Ecom?=` stays one display name of one recipient.
    """
    if config.mail is None:
        raise MessageError(f"{config.path}: mail: a [mail] section is needed to mail anyone")
    sender_name, sender = one_address("From", config.mail.sender)
    recipient = ascii_address(email)
    headers = [
        ("From", address_header("From", sender_name, sender)),
        ("To", address_header("To", name, recipient)),
    ]
    if config.mail.reply_to:
        headers.append(
            ("Reply-To", address_header("Reply-To", *one_address("Reply-To", config.mail.reply_to)))
        )
    host = urlsplit(config.site.url).hostname or "localhost"
    headers += [
        ("Subject", text_header("Subject", text.subject)),
        ("Date", format_datetime(now)),
        ("Message-ID", f"<{ascii_address(f'confirm.{secrets.token_hex(12)}@{host}')}>"),
        ("Auto-Submitted", "auto-generated"),
    ]
    body = EmailMessage(policy=SMTP)
    body.set_content(text.body, charset="utf-8", cte="quoted-printable")
    head = "".join(f"{header}: {value}\r\n" for header, value in headers).encode("ascii")
    return Envelope(sender, recipient), head + body.as_bytes(policy=SMTP)


def ascii_address(email: str) -> str:
    """`email` with an international domain in its ASCII (IDNA) form."""
    local, _, domain = email.rpartition("@")
    if domain.isascii():
        return email
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        raise MessageError(f"To: {email!r} has a domain that cannot be written in ASCII") from None
