"""The links a digest carries for every reader: subscribe (for a forwarded copy), manage
preferences, and the images, all answered by the real app from a message as delivered."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from urllib.parse import urlsplit

import lxml.html
import pytest

from publisher.audience.subscribers import add_subscriber
from publisher.mail.delivery.send import send_edition
from publisher.mail.editions import list_editions
from tests.conftest import MovableClock, Site
from tests.test_web import ENVIRON, Web, published, running

SITE = "https://gazette.example.org/"


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    yield from running(published(site, None, clock), clock)


def delivered(web: Web) -> EmailMessage:
    """The daily edition as Ann's mail client receives it."""
    add_subscriber(web.store, "ann@example.org", "Ann", ["daily"], web.clock.now)
    send_edition(
        web.store, web.config, list_editions(web.store, "daily")[-1].id, ENVIRON, clock=web.clock
    )
    (message,) = [m for m in web.mails() if "ann@example.org" in str(m["To"])]
    return message


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def link_named(html: str, words: str) -> str:
    document = lxml.html.document_fromstring(html)
    hrefs = [a.get("href") for a in document.iter("a") if a.text_content().strip() == words]
    assert len(hrefs) == 1, words
    return str(hrefs[0])


def test_forwarded_copies_link_the_sign_up_form(web: Web) -> None:
    message = delivered(web)
    html = part(message, "html")
    assert "Forwarded this email?" in lxml.html.document_fromstring(html).text_content()
    link = link_named(html, "Subscribe to The Harbour Gazette Daily")
    assert link == f"{SITE}#subscribe"
    page = web.client.get(urlsplit(link).path)
    assert page.status_code == 200
    form = lxml.html.document_fromstring(page.text).get_element_by_id("subscribe")
    assert form.xpath(".//input[@name='email']")
    text = part(message, "plain")
    assert f"Forwarded this email? Subscribe to The Harbour Gazette Daily:\n{link}\n" in text


def test_manage_preferences_opens_the_subscribers_own_page(web: Web) -> None:
    message = delivered(web)
    link = link_named(part(message, "html"), "Manage preferences")
    assert link.startswith(f"{SITE}preferences/")
    page = web.client.get(urlsplit(link).path)
    assert page.status_code == 200
    document = lxml.html.document_fromstring(page.text)
    assert document.xpath("//input[@name='digest' and @value='daily' and @checked]")
    assert document.xpath("//input[@name='name']/@value") == ["Ann"]
    assert f"Manage preferences (newsletters, name, pause, address):\n{link}\n" in part(
        message, "plain"
    )


def test_the_archive_copy_invites_readers_to_subscribe_and_names_no_one(web: Web) -> None:
    delivered(web)
    (archive,) = web.config.archive_dir.glob("daily/*.html")
    html = archive.read_text(encoding="utf-8")
    assert link_named(html, "Subscribe to The Harbour Gazette Daily") == f"{SITE}#subscribe"
    assert "Forwarded this email?" not in html
    assert "Manage preferences" not in html


def test_every_image_of_the_message_is_served_by_the_app(web: Web) -> None:
    document = lxml.html.document_fromstring(part(delivered(web), "html"))
    sources = [image.get("src") for image in document.iter("img")]
    assert len(sources) > 10
    for source in sources:
        assert source.startswith(f"{SITE}media/")
        assert web.client.get(urlsplit(source).path).status_code == 200, source
