"""The mails the subscription pages send besides the confirmation: a link to the preferences
page, a change of address to confirm, and the welcome. Each runs after its page is answered."""

from __future__ import annotations

import logging
from typing import Any

import jinja2

from publisher.audience.links import preferences_url
from publisher.audience.preferences import (
    claim_at_most_every,
    claim_once,
    latest_edition_urls,
    release_claim,
)
from publisher.audience.subscribers import Subscriber
from publisher.errors import PublisherError
from publisher.mail.transport.opening import open_transport
from publisher.mail.welcome import render_welcome, welcome_digests, welcome_message
from publisher.web.confirmation import ConfirmationText, confirmation_message
from publisher.web.site import WebSite

log = logging.getLogger(__name__)

PREFERENCES_SENT, WELCOME_SENT = "preferences_sent_at", "welcome_sent_at"


def send_plain_mail(
    site: WebSite, template: str, context: dict[str, Any], name: str, email: str
) -> None:
    """Mail `web/<template>-email.txt.j2` (subject from `-email-subject.txt.j2`) to `email`."""
    environment = site.templates.env
    full = {
        "site": site.config.site,
        "zone": site.config.site.zone,
        "name": name,
        "email": email,
        "postal_address": site.config.mail.postal_address if site.config.mail else "",
        **context,
    }
    subject = environment.get_template(f"web/{template}-email-subject.txt.j2").render(full)
    body = environment.get_template(f"web/{template}-email.txt.j2").render(full)
    envelope, message = confirmation_message(
        site.config, name, email, ConfirmationText(subject.strip(), body), site.now()
    )
    _send(site, envelope.sender, envelope.recipient, message)


def mail_preferences_link(site: WebSite, subscriber: Subscriber) -> None:
    """Mail a confirmed subscriber who signed up again the link to their preferences page.

    At most once per `[web] confirm_resend`, so the form cannot be used to flood an inbox.
    """
    interval = site.config.web.confirm_resend
    if not claim_at_most_every(site.store, subscriber.id, PREFERENCES_SENT, site.now(), interval):
        return
    url = preferences_url(
        site.config.web_base_url, site.secret, subscriber.id, subscriber.token_nonce
    )
    try:
        send_plain_mail(
            site, "preferences", {"preferences_url": url}, subscriber.name, subscriber.email
        )
    except (PublisherError, OSError, jinja2.TemplateError) as error:
        log.error("preferences link for subscriber %s not sent: %s", subscriber.id, error)
        release_claim(site.store, subscriber.id, PREFERENCES_SENT)


def send_welcome(site: WebSite, subscriber: Subscriber) -> None:
    """Mail the welcome once per subscriber (recorded first, so a repeated confirm sends none)."""
    if not site.config.web.welcome:
        return
    if not claim_once(site.store, subscriber.id, WELCOME_SENT, site.now()):
        return
    url = preferences_url(
        site.config.web_base_url, site.secret, subscriber.id, subscriber.token_nonce
    )
    try:
        digests = welcome_digests(
            site.config, subscriber.digests, latest_edition_urls(site.store, site.config)
        )
        welcome = render_welcome(
            site.templates.env, site.config, subscriber.name, subscriber.email, digests, url
        )
        envelope, message = welcome_message(
            site.config, subscriber.name, subscriber.email, welcome, site.now()
        )
        _send(site, envelope.sender, envelope.recipient, message)
    except (PublisherError, OSError, jinja2.TemplateError) as error:
        log.error("welcome for subscriber %s not sent: %s", subscriber.id, error)
        release_claim(site.store, subscriber.id, WELCOME_SENT)
    else:
        log.info("welcome sent to subscriber %s", subscriber.id)


def _send(site: WebSite, sender: str, recipient: str, message: bytes) -> None:
    transport = open_transport(site.config, site.environ)
    try:
        transport.send(sender, recipient, message)
    finally:
        transport.close()
