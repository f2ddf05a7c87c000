"""Probes: a short message to an address that unverified reports say is failing.

Its envelope sender carries a probe token (`bounces+p<subscriber id>-<mac>@...`), so a bounce
of the probe proves itself: only that ends the subscription (see `apply`). The wording lives
in `probe.txt.j2` and `probe-subject.txt.j2`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP

import jinja2

from publisher.audience.subscribers import subscriber_by_id
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.inbound.apply import release_probe
from publisher.mail.mime import Envelope, notice_message
from publisher.mail.render import template_environment
from publisher.mail.transport.opening import open_transport
from publisher.mail.transport.returnpath import probe_sender
from publisher.store.database import Store

log = logging.getLogger(__name__)

TEXT_TEMPLATE, SUBJECT_TEMPLATE = "probe.txt.j2", "probe-subject.txt.j2"


def send_probe(
    store: Store,
    config: Config,
    secret: bytes,
    environ: Mapping[str, str],
    subscriber_id: int,
    now: datetime,
) -> bool:
    """Mail subscriber `subscriber_id` a probe; on failure forget it was due (logged), so the
    next report tries again. Whether it went out."""
    subscriber = subscriber_by_id(store, subscriber_id)
    sender = probe_sender(config, secret, subscriber_id)
    if subscriber is None or sender is None:
        return False
    try:
        envelope, message = probe_message(config, subscriber.name, subscriber.email, now)
        transport = open_transport(config, environ)
        try:
            transport.send(sender, envelope.recipient, message)
        finally:
            transport.close()
    except (PublisherError, OSError, jinja2.TemplateError) as error:
        log.error("probe to subscriber %s not sent: %s", subscriber_id, error)
        release_probe(store, subscriber_id)
        return False
    log.info("probe sent to subscriber %s (reports said their address fails)", subscriber_id)
    return True


def probe_message(config: Config, name: str, email: str, now: datetime) -> tuple[Envelope, bytes]:
    """The probe for `email`, worded in the site's language: its envelope and bytes."""
    environment = template_environment(
        config.templates_dir, config.site.language, config.locale_dir
    )
    context = {
        "site": config.site,
        "zone": config.site.zone,
        "name": name,
        "email": email,
        "postal_address": config.mail.postal_address if config.mail else "",
    }
    subject = environment.get_template(SUBJECT_TEMPLATE).render(context).strip()
    body = EmailMessage(policy=SMTP)
    body.set_content(
        environment.get_template(TEXT_TEMPLATE).render(context),
        charset="utf-8",
        cte="quoted-printable",
    )
    return notice_message(config, name, email, subject, "probe", body, now)
