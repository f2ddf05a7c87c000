"""The confirmation message a web sign-up receives: rendered from templates, built as MIME bytes.

A pure core: values in, a message out. The wording lives in `web/confirm-email.txt.j2` and
`web/confirm-email-subject.txt.j2`. The message is plain text (UTF-8, quoted-printable), with
From, To, Subject, Date, Message-ID and `Auto-Submitted: auto-generated`; a line break in any
header value is refused with a MessageError naming the header, as for digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import jinja2

from publisher.config import Config, DigestConfig
from publisher.mail.mime import Envelope, notice_message

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
    """The envelope and bytes of a confirmation message to `email` (headers as in digests)."""
    body = EmailMessage(policy=SMTP)
    body.set_content(text.body, charset="utf-8", cte="quoted-printable")
    return notice_message(config, name, email, text.subject, "confirm", body, now)
