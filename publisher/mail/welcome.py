"""The welcome message a subscriber gets once, on confirming: rendered and built as MIME bytes.

A pure core: values in, a message out. The wording lives in `welcome.html.j2` (its CSS from
`email.css` inlined, as for digests), `welcome.txt.j2` and `welcome-subject.txt.j2`. It names
the digests chosen, links the latest edition of each and the subscriber's preferences page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import jinja2

from publisher.config import Config, DigestConfig
from publisher.mail.mime import Envelope, notice_message
from publisher.mail.render import DigestError, inline_css

HTML_TEMPLATE, TEXT_TEMPLATE, SUBJECT_TEMPLATE = (
    "welcome.html.j2",
    "welcome.txt.j2",
    "welcome-subject.txt.j2",
)


@dataclass(frozen=True, slots=True)
class WelcomeDigest:
    """One digest the welcome names, with its latest edition's page ("" if none yet)."""

    digest: DigestConfig
    latest_url: str


@dataclass(frozen=True, slots=True)
class WelcomeText:
    """The rendered subject, HTML (CSS inlined) and plain text of one welcome."""

    subject: str
    html: str
    text: str


def render_welcome(
    environment: jinja2.Environment,
    config: Config,
    name: str,
    email: str,
    digests: Sequence[WelcomeDigest],
    preferences_url: str,
) -> WelcomeText:
    """The welcome for `email`, naming `digests` and linking its preferences page."""
    context: dict[str, Any] = {
        "site": config.site,
        "zone": config.site.zone,
        "name": name,
        "email": email,
        "digests": list(digests),
        "preferences_url": preferences_url,
        "postal_address": config.mail.postal_address if config.mail else "",
    }
    try:
        subject = environment.get_template(SUBJECT_TEMPLATE).render(context).strip()
        html = environment.get_template(HTML_TEMPLATE).render(context)
        text = environment.get_template(TEXT_TEMPLATE).render(context)
    except jinja2.TemplateError as error:
        raise DigestError(f"welcome templates: {error}") from None
    return WelcomeText(subject, inline_css(html, origin=HTML_TEMPLATE), text)


def welcome_message(
    config: Config, name: str, email: str, welcome: WelcomeText, now: datetime
) -> tuple[Envelope, bytes]:
    """The envelope and bytes of the welcome to `email`: text and HTML alternatives."""
    body = EmailMessage(policy=SMTP)
    body.set_content(welcome.text, charset="utf-8", cte="quoted-printable")
    body.add_alternative(welcome.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return notice_message(config, name, email, welcome.subject, "welcome", body, now)


def welcome_digests(
    config: Config, chosen: Sequence[str], latest: Mapping[str, str]
) -> list[WelcomeDigest]:
    """The configured digests among `chosen`, each with its latest edition's URL."""
    return [
        WelcomeDigest(digest, latest.get(digest.name, ""))
        for digest in config.digests
        if digest.name in chosen
    ]
