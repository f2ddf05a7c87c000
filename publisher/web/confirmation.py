"""The confirmation message a web sign-up receives: rendered from templates, built as MIME bytes.

A pure core: values in, a message out. The wording lives in `web/confirm-email.txt.j2` and
`web/confirm-email-subject.txt.j2`. The message is plain text (UTF-8, quoted-printable), with
From, To, Subject, Date, Message-ID and `Auto-Submitted: auto-generated`; a line break in any
header value is refused with a MessageError naming the header, as for digests.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from typing import Any
from urllib.parse import urlsplit

import idna
import jinja2

from publisher.config import Config, DigestConfig
from publisher.messages import Envelope, MessageError

BODY_TEMPLATE = "web/confirm-email.txt.j2"
SUBJECT_TEMPLATE = "web/confirm-email-subject.txt.j2"
# Every character Python's email package (str.splitlines) takes as a line break, and controls.
_UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


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
    """The envelope and bytes of a confirmation message to `email`."""
    if config.mail is None:
        raise MessageError(f"{config.path}: mail: a [mail] section is needed to mail anyone")
    for header, value in (("From", config.mail.sender), ("To", name), ("To", email)):
        _check_header(header, value)
    _check_header("Subject", text.subject)
    sender = _single_address(config.mail.sender)
    recipient = ascii_address(email)
    host = urlsplit(config.site.url).hostname or "localhost"
    message = EmailMessage(policy=SMTP)
    message["From"] = config.mail.sender
    message["To"] = Address(display_name=name, addr_spec=recipient)
    if config.mail.reply_to:
        _check_header("Reply-To", config.mail.reply_to)
        message["Reply-To"] = config.mail.reply_to
    message["Subject"] = text.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<confirm.{secrets.token_hex(12)}@{host}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text.body, charset="utf-8", cte="quoted-printable")
    return Envelope(sender, recipient), message.as_bytes(policy=SMTP)


def ascii_address(email: str) -> str:
    """`email` with an international domain in its ASCII (IDNA) form."""
    local, _, domain = email.rpartition("@")
    if domain.isascii():
        return email
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        raise MessageError(f"To: {email!r} has a domain that cannot be written in ASCII") from None


def _single_address(value: str) -> str:
    found = getaddresses([value])
    if len(found) != 1 or "@" not in found[0][1]:
        raise MessageError(f"From: {value!r} is not one email address")
    return found[0][1]


def _check_header(header: str, value: str) -> None:
    if _UNSAFE_IN_HEADER.search(value):
        raise MessageError(f"{header}: {value!r} contains a line break or control character")
