"""The subscription web app through Starlette's TestClient: every route, status and bad input."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import gzip
import json
import mailbox
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import lxml.html
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from publisher.audience.subscribers import Subscriber, add_subscriber, find_subscriber
from publisher.audience.tokens import make_token
from publisher.config import Config
from publisher.inbound.apply import subscriber_events
from publisher.mail.editions import create_edition
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import Store, open_store
from publisher.store.schema import subscribers
from publisher.store.statuses import SubscriberStatus
from publisher.web.app import create_app
from publisher.web.files import accepts_gzip, etag_matches
from publisher.web.security import (
    FORM_LIFETIME,
    client_key,
    csrf_field,
    csrf_field_is_valid,
    new_csrf_cookie,
)
from publisher.web.subscription import read_sign_up
from tests.conftest import PUBLISHED_SAMPLE, MovableClock, Site, SmtpServer, free_port

SECRET = "web-test-secret-0123456789abcdef"
ENVIRON = {"PUBLISHER_SECRET": SECRET}
FORM_TYPE = "application/x-www-form-urlencoded"
ONE_CLICK = b"List-Unsubscribe=One-Click"
SITE_URL = "https://gazette.example.org/"
# What a browser sends with a form posted from a page of the site, served or static.
FROM_THE_SITE = {"origin": "https://gazette.example.org"}
DREDGING = "/articles/harbour-dredging-march/"
SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
)


@dataclass
class Web:
    """The app under test, a browser-like client, and the store and Maildir behind them."""

    client: TestClient
    config: Config
    store: Store
    clock: MovableClock

    def form_token(self, path: str = "/") -> str:
        return form_token_of(self.client.get(path))

    def sign_up(
        self, address: str, name: str = "", digests: Sequence[str] = ("daily",), **extra: str
    ) -> httpx.Response:
        fields: dict[str, str | list[str]] = {
            "email": address,
            "name": name,
            "digest": list(digests),
        }
        return self.client.post("/subscribe", data={**fields, **extra})

    def mails(self) -> list[EmailMessage]:
        if not self.config.maildir.exists():
            return []
        box = mailbox.Maildir(self.config.maildir, create=False)
        found = []
        for key in sorted(box.keys(), key=delivery_order):
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def subscriber(self, address: str) -> Subscriber:
        found = find_subscriber(self.store, address)
        assert found is not None
        return found

    def confirm_path(self, message: EmailMessage) -> str:
        return urlsplit(confirm_link(message)).path

    def unsubscribe_path(self, subscriber: Subscriber) -> str:
        token = make_token(SECRET.encode(), "unsubscribe", subscriber.id, subscriber.token_nonce)
        return f"/unsubscribe/{token}"

    def one_click(self, path: str) -> httpx.Response:
        """Unsubscribe as a mail provider does (RFC 8058): no cookie, no form token, no page."""
        self.client.cookies.clear()
        return self.client.post(
            path, content=ONE_CLICK, headers={"content-type": FORM_TYPE}, follow_redirects=False
        )

    def press(self, path: str) -> httpx.Response:
        """Open a page with one form and press its button, as a reader does."""
        return self.client.post(path, data={"csrf_token": self.form_token(path)})

    def confirmed(self, address: str) -> Subscriber:
        self.sign_up(address)
        self.press(self.confirm_path(self.mails()[-1]))
        subscriber = self.subscriber(address)
        assert subscriber.status == SubscriberStatus.CONFIRMED
        return subscriber


def delivery_order(key: str) -> tuple[int, int, str]:
    """A Maildir key (`<seconds>.M<microseconds>P<pid>Q<n>.<host>`) as the time it was written:
    plain sorting would put M99 after M100000."""
    found = re.match(r"([0-9]+)\.M([0-9]+)", key)
    return (int(found.group(1)), int(found.group(2)), key) if found else (0, 0, key)


def form_token_of(response: httpx.Response) -> str:
    document = lxml.html.document_fromstring(response.text)
    values = document.xpath('//input[@name="csrf_token"]/@value')
    assert len(values) == 1, response.text
    return str(values[0])


def confirm_link(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(r"https?://\S+/confirm/\S+", body.get_content())
    assert found is not None
    return found.group()


def published(site: Site, store_url: str | None, clock: MovableClock) -> Config:
    """The sample site gathered, its feeds built and one daily edition made."""
    config = site.config()
    if store_url is not None:
        config = dataclasses.replace(config, store_url=store_url)
    if PUBLISHED_SAMPLE.matches(site, clock.now):
        PUBLISHED_SAMPLE.copy_into(site, store_url)
        return config
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        build(store, config)
        create_edition(store, config, "daily", clock)
    return config


def running(
    config: Config, clock: MovableClock, environ: dict[str, str] = ENVIRON
) -> Iterator[Web]:
    app = create_app(config, environ, clock)
    with (
        TestClient(app, headers=FROM_THE_SITE) as client,
        open_store(config.store_url) as store,
    ):
        yield Web(client, config, store, clock)


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    """The sample site served from a SQLite store."""
    yield from running(published(site, None, clock), clock)


@pytest.fixture
def web_on_each_store(site: Site, clock: MovableClock, store_url: str) -> Iterator[Web]:
    """The sample site served from SQLite and from PostgreSQL."""
    yield from running(published(site, store_url, clock), clock)


def document(response: httpx.Response) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(response.text)


def page_text(response: httpx.Response) -> str:
    return " ".join(str(document(response).text_content()).split())


def confirmation_sent_at(web: Web, subscriber_id: int) -> datetime | None:
    with web.store.transaction() as connection:
        value = connection.scalar(
            sa.select(subscribers.c.confirmation_sent_at).where(subscribers.c.id == subscriber_id)
        )
    return value if isinstance(value, datetime) else None


# The home page ------------------------------------------------------------------------------


def test_home_page_shows_the_title_form_feeds_and_past_editions(web: Web) -> None:
    response = web.client.get("/")
    page = document(response)
    assert response.status_code == 200
    assert page.findtext(".//title") == "The Harbour Gazette"
    form = page.xpath("//form[@method='post']")[0]
    # The fragment brings a reader whose sign-up was refused back to the form, below the stories.
    assert form.get("action") == f"{SITE_URL}subscribe#subscribe"
    assert "csrf_token" not in {field.get("name") for field in form.xpath(".//input")}
    assert {field.get("name") for field in form.xpath(".//input")} >= {
        "email",
        "name",
        "digest",
        "website",
    }
    assert form.xpath(".//input[@name='digest']/@value") == ["daily", "culture"]
    alternates = {
        link.get("type"): link.get("href") for link in page.xpath("//link[@rel='alternate']")
    }
    assert alternates == {
        "application/rss+xml": f"{SITE_URL}feeds/rss.xml",
        "application/atom+xml": f"{SITE_URL}feeds/atom.xml",
        "application/feed+json": f"{SITE_URL}feeds/feed.json",
    }
    assert f"{SITE_URL}archive/daily/1.html" in page.xpath("//a/@href")


def test_home_page_is_the_same_for_every_visitor_and_a_cdn_may_keep_it(web: Web) -> None:
    first = web.client.get("/")
    web.client.cookies.clear()
    web.clock.advance(hours=2)
    second = web.client.get("/")
    assert "set-cookie" not in first.headers
    assert first.content == second.content
    assert first.headers["cache-control"] == "public, max-age=300, stale-while-revalidate=86400"


def test_a_refused_sign_up_is_kept_by_no_cache_and_keeps_the_stories(web: Web) -> None:
    home = document(web.client.get("/"))
    refused = web.sign_up("not an address")
    assert refused.status_code == 400
    assert refused.headers["cache-control"] == "private, no-store"
    lead = "//article[contains(@class, 'lead-story')]//h2/a/@href"
    cards = "//li[@class='story']//h2/a/@href"
    for stories in (lead, cards):
        assert document(refused).xpath(stories) == home.xpath(stories) != []


# Signing up ---------------------------------------------------------------------------------


def test_sign_up_stores_a_pending_subscriber_and_mails_a_confirmation_link(
    web_on_each_store: Web,
) -> None:
    web = web_on_each_store
    response = web.sign_up("ann@example.org", "Ann Lee", ["daily", "culture"])
    assert response.status_code == 200
    assert "Check your inbox" in page_text(response)
    subscriber = web.subscriber("ann@example.org")
    assert (subscriber.status, subscriber.name) == (SubscriberStatus.PENDING, "Ann Lee")
    assert subscriber.digests == ("culture", "daily")
    [message] = web.mails()
    assert message["To"] == "Ann Lee <ann@example.org>"
    assert message["From"] == "The Harbour Gazette <newsletter@gazette.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert confirm_link(message).startswith(f"{SITE_URL}confirm/{subscriber.id}.")


def test_sign_up_answers_the_same_page_whatever_the_address_was(web: Web) -> None:
    address = "ann@example.org"
    pages = [page_text(web.sign_up(address))]  # new
    pages.append(page_text(web.sign_up(address)))  # pending
    web.press(web.confirm_path(web.mails()[-1]))
    pages.append(page_text(web.sign_up(address)))  # confirmed
    assert web.one_click(web.unsubscribe_path(web.subscriber(address))).status_code == 200
    pages.append(page_text(web.sign_up(address)))  # unsubscribed
    assert len(set(pages)) == 1


def test_manage_page_mails_a_subscribed_address_its_preferences_link(web: Web) -> None:
    web.confirmed("ann@example.org")
    mails = len(web.mails())
    page = web.client.get("/manage/")
    assert page.status_code == 200
    assert "csrf_token" not in page.text
    assert page.headers["cache-control"].startswith("public, ")
    answer = web.client.post("/manage/", data={"email": "ann@example.org"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-store"
    assert len(web.mails()) == mails + 1
    body = web.mails()[-1].get_body(("plain",))
    assert isinstance(body, EmailMessage)
    assert re.search(r"https://gazette\.example\.org/preferences/\S+", body.get_content())


def test_manage_page_says_the_same_for_an_unknown_address_and_mails_nobody(web: Web) -> None:
    known = web.confirmed("ann@example.org")
    mails = len(web.mails())
    unknown = web.client.post("/manage/", data={"email": "nobody@example.org"})
    assert unknown.status_code == 200
    assert len(web.mails()) == mails
    web.clock.advance(days=2)  # past [web] confirm_resend
    shown = web.client.post("/manage/", data={"email": known.email})
    assert page_text(unknown).replace("nobody@example.org", "") == page_text(shown).replace(
        known.email, ""
    )


def test_manage_page_refuses_another_sites_post_and_a_bad_address(web: Web) -> None:
    web.confirmed("ann@example.org")
    mails = len(web.mails())
    elsewhere = {"origin": "https://evil.example"}
    refused = web.client.post("/manage/", data={"email": "ann@example.org"}, headers=elsewhere)
    assert refused.status_code == 403
    bad = web.client.post("/manage/", data={"email": "not an address"})
    assert bad.status_code == 400
    assert "Enter an email address" in page_text(bad)
    assert len(web.mails()) == mails


def test_confirmed_subscriber_signing_up_again_is_mailed_their_preferences_link_only(
    web: Web,
) -> None:
    before = web.confirmed("ann@example.org")
    mails = len(web.mails())
    response = web.sign_up("ann@example.org", "Someone Else", ["culture"])
    assert response.status_code == 200
    assert len(web.mails()) == mails + 1
    body = web.mails()[-1].get_body(("plain",))
    assert isinstance(body, EmailMessage)
    assert re.search(r"https://gazette\.example\.org/preferences/\S+", body.get_content())
    assert "/confirm/" not in body.get_content()
    assert web.subscriber("ann@example.org") == before
    web.sign_up("ann@example.org", "Someone Else", ["culture"])
    assert len(web.mails()) == mails + 1  # at most once per [web] confirm_resend


def test_pending_subscriber_is_mailed_again_only_after_the_resend_interval(web: Web) -> None:
    web.sign_up("ann@example.org")
    web.sign_up("ann@example.org")
    web.clock.advance(minutes=59)
    web.sign_up("ann@example.org")
    assert len(web.mails()) == 1
    web.clock.advance(minutes=1)
    web.sign_up("ann@example.org")
    assert len(web.mails()) == 2


def test_a_sign_up_for_an_unsubscribed_address_changes_nothing_until_its_own_click(
    web: Web,
) -> None:
    subscriber = web.confirmed("ann@example.org")
    old_unsubscribe = web.unsubscribe_path(subscriber)
    web.one_click(old_unsubscribe)
    mails = len(web.mails())
    web.clock.advance(days=1)
    web.sign_up("ann@example.org")
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED
    assert len(web.mails()) == mails + 1
    web.press(web.confirm_path(web.mails()[-1]))
    again = web.subscriber("ann@example.org")
    assert again.status == SubscriberStatus.CONFIRMED
    # Coming back is a new subscription: links mailed before it stop working.
    assert again.token_nonce != subscriber.token_nonce
    assert web.client.get(old_unsubscribe).status_code == 400


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("", "Enter your email address."),
        ("   ", "Enter your email address."),
        ("not-an-address", "Enter an email address like name@example.com."),
        ("ann@", "Enter an email address like name@example.com."),
        ("ann@example.org\r\nBcc: victim@example.org", "Enter an email address like"),
        ("a" * 400 + "@example.org", "That email address is too long."),
    ],
)
def test_bad_address_gets_a_400_page_naming_the_problem(
    web: Web, address: str, problem: str
) -> None:
    response = web.sign_up(address)
    assert response.status_code == 400
    assert problem in page_text(response)
    assert web.mails() == []


@pytest.mark.parametrize("name", ["Ann\r\nBcc: victim@example.org", "Ann\nLee", "Ann\rLee"])
def test_line_break_in_name_gets_a_400_page(web: Web, name: str) -> None:
    response = web.sign_up("ann@example.org", name)
    assert response.status_code == 400
    assert "Your name must fit on one line." in page_text(response)
    assert find_subscriber(web.store, "ann@example.org") is None


def test_refused_sign_up_keeps_what_was_typed_in_the_form(web: Web) -> None:
    response = web.sign_up("not-an-address", "Ann <Lee>", ["culture"])
    form = document(response).xpath("//form")[0]
    assert form.xpath(".//input[@name='email']/@value") == ["not-an-address"]
    assert form.xpath(".//input[@name='name']/@value") == ["Ann <Lee>"]
    assert form.xpath(".//input[@name='digest'][@checked]/@value") == ["culture"]


def test_too_long_name_gets_a_400_page(web: Web) -> None:
    response = web.sign_up("ann@example.org", "N" * 201)
    assert response.status_code == 400
    assert "at most 200 characters" in page_text(response)


def test_no_newsletter_chosen_gets_a_400_page(web: Web) -> None:
    response = web.sign_up("ann@example.org", digests=[])
    assert response.status_code == 400
    assert "Choose at least one newsletter." in page_text(response)


def test_unknown_newsletter_gets_a_400_page(web: Web) -> None:
    response = web.sign_up("ann@example.org", digests=["daily", "secret-list"])
    assert response.status_code == 400
    assert "Choose from the newsletters listed." in page_text(response)


def test_huge_request_body_is_refused_with_413(web: Web) -> None:
    response = web.sign_up("ann@example.org", name="N" * 20_000)
    assert response.status_code == 413
    assert "too much" in page_text(response)
    assert find_subscriber(web.store, "ann@example.org") is None


def test_file_upload_in_the_form_is_refused_with_400(web: Web) -> None:
    response = web.client.post(
        "/subscribe",
        data={"email": "ann@example.org", "digest": "daily"},
        files={"photo": ("me.jpg", b"\xff\xd8", "image/jpeg")},
    )
    assert response.status_code == 400


def test_sign_up_from_a_page_of_the_site_passes_with_no_token_or_cookie(web: Web) -> None:
    web.client.cookies.clear()
    response = web.client.post("/subscribe", data={"email": "ann@example.org", "digest": "daily"})
    assert response.status_code == 200
    assert find_subscriber(web.store, "ann@example.org") is not None


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "https://gazette.example.org.evil.example"},
        {"origin": "null"},
        {"origin": "", "referer": "https://evil.example/gazette.example.org/"},
        {"origin": ""},
    ],
)
def test_sign_up_from_another_site_or_from_nowhere_is_refused_with_403(
    web: Web, headers: dict[str, str]
) -> None:
    fields = {"email": "ann@example.org", "digest": "daily"}
    response = web.client.post("/subscribe", data=fields, headers=headers)
    assert response.status_code == 403
    assert find_subscriber(web.store, "ann@example.org") is None


def test_sign_up_named_by_its_referer_or_from_the_server_itself_passes(web: Web) -> None:
    fields = {"email": "ann@example.org", "digest": "daily"}
    by_referer = {"origin": "", "referer": f"{SITE_URL}articles/page/2/"}
    assert web.client.post("/subscribe", data=fields, headers=by_referer).status_code == 200
    # A local preview: the page came from this server, as the request reached it.
    fields["email"] = "bo@example.org"
    own = {"origin": "http://testserver"}
    assert web.client.post("/subscribe", data=fields, headers=own).status_code == 200


def test_filled_honeypot_is_dropped_silently(web: Web) -> None:
    honest = web.sign_up("bob@example.org")
    response = web.sign_up("ann@example.org", website="https://spam.example/")
    assert response.status_code == 200
    assert page_text(response) == page_text(honest).replace("bob@", "ann@")
    assert find_subscriber(web.store, "ann@example.org") is None
    assert [message["To"] for message in web.mails()] == ["bob@example.org"]


def test_flood_of_sign_ups_from_one_address_is_throttled_with_429(web: Web) -> None:
    for number in range(10):
        assert web.sign_up(f"reader{number}@example.org").status_code == 200
    response = web.sign_up("one-too-many@example.org")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many attempts" in page_text(response)
    assert find_subscriber(web.store, "one-too-many@example.org") is None


def test_throttle_lifts_when_the_window_has_passed(web: Web) -> None:
    for number in range(10):
        web.sign_up(f"reader{number}@example.org")
    assert web.sign_up("later@example.org").status_code == 429
    web.clock.advance(hours=1, seconds=1)
    assert web.sign_up("later@example.org").status_code == 200


def test_throttle_counts_each_client_address_on_its_own(web: Web) -> None:
    for number in range(10):
        web.sign_up(f"reader{number}@example.org")
    with TestClient(
        web.client.app, client=("203.0.113.7", 40000), headers=FROM_THE_SITE
    ) as neighbour:
        response = neighbour.post("/subscribe", data={"email": "n@example.org", "digest": "daily"})
    assert response.status_code == 200


def test_sign_up_can_go_out_through_smtp(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    with site.config_path.open("a", encoding="utf-8") as config_file:
        config_file.write(
            f'\n[mail.smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\n'
            'security = "none"\n'
        )
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace("[mail]\n", '[mail]\ntransport = "smtp"\n'))
    for web in running(site.config(), clock):
        web.sign_up("ann@example.org")
    [received] = smtp_server.handler.received
    assert received.sender == "newsletter@gazette.example.org"
    assert received.recipients == ["ann@example.org"]
    assert b"/confirm/" in received.data


def test_failed_confirmation_lets_the_next_sign_up_mail_at_once(
    site: Site, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    with site.config_path.open("a", encoding="utf-8") as config_file:
        config_file.write(
            f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {free_port()}\nsecurity = "none"\n'
            "timeout = 2\n"
        )
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace("[mail]\n", '[mail]\ntransport = "smtp"\n'))
    for web in running(site.config(), clock):
        response = web.sign_up("ann@example.org")
        assert response.status_code == 200
        subscriber = web.subscriber("ann@example.org")
        assert confirmation_sent_at(web, subscriber.id) is None
    assert "not sent" in caplog.text


# Confirming ---------------------------------------------------------------------------------


def test_opening_a_confirm_link_changes_nothing(web: Web) -> None:
    web.sign_up("ann@example.org")
    path = web.confirm_path(web.mails()[0])
    for _ in range(3):
        response = web.client.get(path)
        assert response.status_code == 200
    page = document(response)
    assert page.xpath("//form[@method='post']/@action") == [path]
    assert len(page.xpath("//form//button")) == 1
    assert web.subscriber("ann@example.org").status == SubscriberStatus.PENDING


def test_pressing_confirm_confirms_the_subscriber(web_on_each_store: Web) -> None:
    web = web_on_each_store
    web.sign_up("ann@example.org")
    response = web.press(web.confirm_path(web.mails()[0]))
    assert response.status_code == 200
    assert "You are subscribed" in page_text(response)
    subscriber = web.subscriber("ann@example.org")
    assert subscriber.status == SubscriberStatus.CONFIRMED
    assert subscriber.confirmed_at == web.clock.now


def test_pressing_confirm_twice_stays_confirmed(web: Web) -> None:
    web.sign_up("ann@example.org")
    path = web.confirm_path(web.mails()[0])
    token = web.form_token(path)
    for _ in range(2):
        assert web.client.post(path, data={"csrf_token": token}).status_code == 200
    assert "You are already subscribed" in page_text(web.client.get(path))
    assert web.subscriber("ann@example.org").status == SubscriberStatus.CONFIRMED


def test_expired_confirm_link_gets_a_410_page_and_changes_nothing(web: Web) -> None:
    web.sign_up("ann@example.org")
    path = web.confirm_path(web.mails()[0])
    token = web.form_token(path)
    web.clock.advance(days=2, seconds=1)
    assert web.client.get(path).status_code == 410
    response = web.client.post(path, data={"csrf_token": token})
    assert response.status_code == 410
    assert "This link has expired" in page_text(response)
    assert web.subscriber("ann@example.org").status == SubscriberStatus.PENDING


def test_confirm_without_form_token_is_refused_with_403(web: Web) -> None:
    web.sign_up("ann@example.org")
    path = web.confirm_path(web.mails()[0])
    web.client.get(path)
    assert web.client.post(path, data={}).status_code == 403
    assert web.subscriber("ann@example.org").status == SubscriberStatus.PENDING


def test_confirm_link_no_longer_works_after_unsubscribing(web: Web) -> None:
    web.sign_up("ann@example.org")
    path = web.confirm_path(web.mails()[0])
    web.press(path)
    web.one_click(web.unsubscribe_path(web.subscriber("ann@example.org")))
    assert web.client.get(path).status_code == 400
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED


def tampered(token: str) -> list[str]:
    subscriber_id, issued, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        f"{subscriber_id}.{issued}.{flipped}",
        f"{int(subscriber_id) + 1}.{issued}.{mac}",
        f"{subscriber_id}.{int(issued) + 1}.{mac}",
        f"{subscriber_id}.{issued}.{mac[:-2]}",
        f"{subscriber_id}.{issued}",
        "garbage",
        "1.0." + "A" * 300,
        f"{subscriber_id}.{issued}.{mac}%00",
    ]


def test_tampered_confirm_link_gets_400(web: Web) -> None:
    web.sign_up("ann@example.org")
    web.sign_up("bob@example.org")
    token = web.confirm_path(web.mails()[0]).rsplit("/", 1)[1]
    for bad in tampered(token):
        assert web.client.get(f"/confirm/{bad}").status_code == 400, bad
        response = web.client.post(f"/confirm/{bad}", data={"csrf_token": "1.x"})
        assert response.status_code == 400, bad
    assert web.subscriber("ann@example.org").status == SubscriberStatus.PENDING
    assert web.subscriber("bob@example.org").status == SubscriberStatus.PENDING


def test_unsubscribe_token_does_not_confirm(web: Web) -> None:
    web.sign_up("ann@example.org")
    subscriber = web.subscriber("ann@example.org")
    token = web.unsubscribe_path(subscriber).rsplit("/", 1)[1]
    assert web.client.get(f"/confirm/{token}").status_code == 400


# Unsubscribing ------------------------------------------------------------------------------


def test_opening_an_unsubscribe_link_changes_nothing(web: Web) -> None:
    subscriber = web.confirmed("ann@example.org")
    path = web.unsubscribe_path(subscriber)
    for _ in range(3):
        response = web.client.get(path)
        assert response.status_code == 200
    page = document(response)
    assert page.xpath("//form[@method='post']/@action") == [path]
    assert len(page.xpath("//form//button")) == 1
    assert "ann@example.org" in page_text(response)
    assert web.subscriber("ann@example.org").status == SubscriberStatus.CONFIRMED


def test_pressing_unsubscribe_unsubscribes(web: Web) -> None:
    subscriber = web.confirmed("ann@example.org")
    response = web.press(web.unsubscribe_path(subscriber))
    assert response.status_code == 200
    assert "You are unsubscribed" in page_text(response)
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED
    web.one_click(web.unsubscribe_path(subscriber))  # again: nothing more happened
    shown = [(e.kind, e.source) for e in subscriber_events(web.store, subscriber.id)]
    assert shown == [("unsubscribe", "web")]


def test_unsubscribe_form_without_token_is_refused_with_403(web: Web) -> None:
    subscriber = web.confirmed("ann@example.org")
    path = web.unsubscribe_path(subscriber)
    web.client.get(path)
    assert web.client.post(path, data={"confirm": "yes"}).status_code == 403
    assert web.subscriber("ann@example.org").status == SubscriberStatus.CONFIRMED


def test_one_click_unsubscribe_as_a_mail_provider_sends_it(web_on_each_store: Web) -> None:
    web = web_on_each_store
    subscriber = web.confirmed("ann@example.org")
    path = web.unsubscribe_path(subscriber)
    for _ in range(2):
        response = web.one_click(path)
        assert response.status_code == 200
        assert "location" not in response.headers
        assert "set-cookie" not in response.headers
        assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED


def test_one_click_unsubscribe_works_as_multipart_too(web: Web) -> None:
    subscriber = web.confirmed("ann@example.org")
    web.client.cookies.clear()
    response = web.client.post(
        web.unsubscribe_path(subscriber), files={"List-Unsubscribe": (None, "One-Click")}
    )
    assert response.status_code == 200
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED


def test_one_click_unsubscribe_keeps_the_first_unsubscribe_time(web: Web) -> None:
    subscriber = web.confirmed("ann@example.org")
    path = web.unsubscribe_path(subscriber)
    web.one_click(path)
    first = web.clock.now
    web.clock.advance(hours=3)
    web.one_click(path)
    with web.store.transaction() as connection:
        stored = connection.scalar(
            sa.select(subscribers.c.unsubscribed_at).where(subscribers.c.id == subscriber.id)
        )
    assert stored == first


def test_tampered_unsubscribe_token_gets_400_and_changes_nothing(web: Web) -> None:
    subscriber = web.confirmed("ann@example.org")
    web.confirmed("bob@example.org")
    token = web.unsubscribe_path(subscriber).rsplit("/", 1)[1]
    for bad in tampered(token):
        assert web.client.get(f"/unsubscribe/{bad}").status_code == 400, bad
        assert web.one_click(f"/unsubscribe/{bad}").status_code == 400, bad
    assert web.subscriber("ann@example.org").status == SubscriberStatus.CONFIRMED
    assert web.subscriber("bob@example.org").status == SubscriberStatus.CONFIRMED


def test_unsubscribe_link_of_an_address_added_by_the_cli_works(web: Web) -> None:
    subscriber, _ = add_subscriber(web.store, "cli@example.org", "", ["daily"], web.clock.now)
    assert web.one_click(web.unsubscribe_path(subscriber)).status_code == 200
    assert web.subscriber("cli@example.org").status == SubscriberStatus.UNSUBSCRIBED


# Articles and categories --------------------------------------------------------------------


def meta(page: lxml.html.HtmlElement, name: str) -> str:
    values = page.xpath(f"//meta[@property='{name}' or @name='{name}']/@content")
    assert len(values) == 1, name
    return str(values[0])


def test_article_page_has_canonical_link_open_graph_tags_and_hero_image(web: Web) -> None:
    response = web.client.get(DREDGING)
    assert response.status_code == 200
    page = document(response)
    url = f"{SITE_URL}articles/harbour-dredging-march/"
    image = f"{SITE_URL}media/images/harbour-dredger.jpg"
    assert page.xpath("//link[@rel='canonical']/@href") == [url]
    assert meta(page, "og:type") == "article"
    assert meta(page, "og:url") == url
    assert meta(page, "og:title") == "Harbour dredging to begin in March after council vote"
    assert meta(page, "og:image") == image
    assert meta(page, "og:site_name") == "The Harbour Gazette"
    assert meta(page, "article:published_time").startswith("2026-11-02T08:30:00")
    assert page.xpath("//figure[@class='hero']/img/@src") == [image]
    assert page.xpath("//figure[@class='hero']/img/@alt") == [
        "A red dredging barge with a crane moored beside the north quay at dawn"
    ]
    text = page_text(response)
    assert "By Mara Quinn" in text
    assert "Port Alder\u2019s harbour will be dredged" in text  # set with a curly apostrophe
    assert page.xpath("//p[@class='kicker']/a/@href") == [f"{SITE_URL}categories/news/"]


def test_article_hero_image_is_served_at_its_media_url(web: Web) -> None:
    image = meta(document(web.client.get(DREDGING)), "og:image")
    response = web.client.get(urlsplit(image).path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == (web.config.content_dir / "images/harbour-dredger.jpg").read_bytes()


def test_article_with_its_own_url_has_no_page_here(web: Web, site: Site) -> None:
    site.write_article(
        "news/elsewhere.md",
        "---\ntitle: Elsewhere\ndate: 2026-11-20T10:00:00\nslug: elsewhere\n"
        "url: https://elsewhere.example/story/\n---\nBody.\n",
    )
    gather(web.store, web.config, web.clock)
    assert web.client.get("/articles/elsewhere/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/articles/no-such-article/",
        "/articles/time-capsule-opened/",  # scheduled for 2031
        "/articles/harbour-dredging-march",  # no redirect to the slash
    ],
)
def test_article_that_is_not_public_here_is_404(web: Web, path: str) -> None:
    response = web.client.get(path, follow_redirects=False)
    assert response.status_code == 404
    assert "Page not found" in page_text(response)


def test_category_page_lists_its_articles_and_feeds(web: Web) -> None:
    response = web.client.get("/categories/science/")
    assert response.status_code == 200
    page = document(response)
    assert page.findtext(".//h1") == "Science"
    links = page.xpath("//li[@class='story']//h2/a/@href")
    assert len(links) == 3
    assert all(link.startswith(f"{SITE_URL}articles/") for link in links)
    assert f"{SITE_URL}feeds/categories/science/rss.xml" in page.xpath(
        "//link[@rel='alternate']/@href"
    )
    assert page.xpath("//link[@rel='canonical']/@href") == [f"{SITE_URL}categories/science/"]


def test_unknown_category_is_404(web: Web) -> None:
    assert web.client.get("/categories/no-such-thing/").status_code == 404


# Hostile content stays inert ----------------------------------------------------------------

HOSTILE_ARTICLE = """---
title: "<script>alert('title')</script> \\"><svg onload=alert(1)>"
date: 2026-11-24T10:00:00
slug: hostile
summary: "<img src=x onerror=alert('summary')> javascript:alert(1)"
author:
  name: "<b onmouseover=alert('author')>Eve</b>"
  url: "javascript:alert('author-url')"
image:
  url: "javascript:alert('image')"
  alt: "\\" onerror=\\"alert('alt')"
  caption: "<script>alert('caption')</script>"
  credit: "<iframe src=javascript:alert(1)>"
categories: ["<script>alert('category')</script>", "\\"><svg onload=alert('cat')>"]
tags: ["<img src=x onerror=alert('tag')>"]
---
Text with <script>alert('body')</script> and <a href="javascript:alert('link')">a link</a>,
<img src="x" onerror="alert('img')"> <svg onload="alert('svg')"></svg>
<iframe src="javascript:alert(1)"></iframe> <object data="javascript:alert(1)"></object>
[markdown link](javascript:alert('md')) and <a href="  JaVaScRiPt:alert(1)">spaced</a>
<form action="javascript:alert(1)"><button formaction="javascript:alert(2)">x</button></form>
<a href="data:text/html,<script>alert(1)</script>">data</a>
<div style="background:url(javascript:alert(1))" onclick="alert(1)">styled</div>
"""
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "data", "srcset", "poster")
DANGEROUS_ELEMENTS = ("script", "iframe", "object", "embed", "frame", "svg", "math", "base")


def assert_inert(response: httpx.Response) -> None:
    page = document(response)
    for element in page.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.lower() == "script" and element.get("type") == "application/ld+json":
            json.loads(element.text or "")  # a data block, never run: JSON, one element whole
            assert list(element.attrib) == ["type"]
            continue
        assert element.tag.lower() not in DANGEROUS_ELEMENTS, lxml.html.tostring(element)
        for attribute, value in element.attrib.items():
            assert not attribute.lower().startswith("on"), (attribute, value)
            if attribute.lower() in URL_ATTRIBUTES:
                scheme = value.strip().lower().split(":", 1)[0]
                assert scheme not in ("javascript", "data", "vbscript"), (attribute, value)


def test_hostile_article_content_is_inert_on_every_page(web: Web, site: Site) -> None:
    site.write_article("news/hostile.md", HOSTILE_ARTICLE)
    report = gather(web.store, web.config, web.clock)
    assert not report.errors, report.errors
    pages = {
        "/": web.client.get("/"),
        "/articles/hostile/": web.client.get("/articles/hostile/"),
        "/categories/script-alert-category-script/": web.client.get(
            "/categories/script-alert-category-script/"
        ),
        "/categories/svg-onload-alert-cat/": web.client.get("/categories/svg-onload-alert-cat/"),
        "/authors/b-onmouseover-alert-author-eve-b/": web.client.get(
            "/authors/b-onmouseover-alert-author-eve-b/"
        ),
    }
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert_inert(response)
    article = page_text(pages["/articles/hostile/"])
    assert "<script>alert('title')</script>" in article
    assert "<b onmouseover=alert('author')>Eve</b>" in article
    assert "<script>alert('category')</script>" in page_text(
        pages["/categories/script-alert-category-script/"]
    )


def test_hostile_name_is_inert_on_the_subscription_pages(web: Web) -> None:
    name = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    web.sign_up("ann@example.org", name)
    path = web.confirm_path(web.mails()[0])
    assert_inert(web.client.get(path))
    confirmed = web.press(path)
    assert_inert(confirmed)
    assert name in page_text(confirmed)


def test_hostile_text_in_a_refused_form_is_inert(web: Web) -> None:
    response = web.sign_up('"><script>alert(1)</script>', '"><img src=x onerror=alert(1)>')
    assert response.status_code == 400
    assert_inert(response)


# Feeds, archive and media -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/feeds/rss.xml", "application/rss+xml"),
        ("/feeds/atom.xml", "application/atom+xml"),
        ("/feeds/feed.json", "application/feed+json"),
        ("/feeds/categories/news/rss.xml", "application/rss+xml"),
    ],
)
def test_feeds_are_served_with_their_media_types(web: Web, path: str, media_type: str) -> None:
    response = web.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.content == (web.config.feeds_dir / path.removeprefix("/feeds/")).read_bytes()
    assert response.headers["etag"].startswith('"')
    assert "last-modified" in response.headers


def test_feed_requested_again_with_its_etag_gets_304_without_a_body(web: Web) -> None:
    first = web.client.get("/feeds/rss.xml", headers={"accept-encoding": "identity"})
    again = web.client.get(
        "/feeds/rss.xml",
        headers={"if-none-match": first.headers["etag"], "accept-encoding": "identity"},
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


def test_feed_requested_with_if_modified_since_gets_304(web: Web) -> None:
    first = web.client.get("/feeds/atom.xml")
    again = web.client.get(
        "/feeds/atom.xml", headers={"if-modified-since": first.headers["last-modified"]}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_feed_changed_since_gets_200(web: Web) -> None:
    path = web.config.feeds_dir / "rss.xml"
    first = web.client.get("/feeds/rss.xml")
    later = datetime.now(UTC).timestamp() + 60
    os.utime(path, (later, later))
    again = web.client.get(
        "/feeds/rss.xml",
        headers={
            "if-none-match": first.headers["etag"],
        },
    )
    assert again.status_code == 200
    assert again.headers["etag"] != first.headers["etag"]
    old = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    assert web.client.get("/feeds/rss.xml", headers={"if-modified-since": old}).status_code == 200


def test_feed_is_gzipped_when_the_client_accepts_gzip(web: Web) -> None:
    plain = (web.config.feeds_dir / "feed.json").read_bytes()
    with web.client.stream(
        "GET", "/feeds/feed.json", headers={"accept-encoding": "gzip"}
    ) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(raw) == plain
    assert len(raw) < len(plain)
    identity = web.client.get("/feeds/feed.json", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert identity.content == plain


def test_gzipped_feed_revalidates_with_its_own_etag(web: Web) -> None:
    first = web.client.get("/feeds/rss.xml", headers={"accept-encoding": "gzip"})
    again = web.client.get(
        "/feeds/rss.xml",
        headers={"accept-encoding": "gzip", "if-none-match": first.headers["etag"]},
    )
    assert again.status_code == 304


def test_archived_edition_is_served(web: Web) -> None:
    response = web.client.get("/archive/daily/1.html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    # The copy on disk, with the tags of a shared link and a subscribe line added as it is served.
    on_disk = (web.config.archive_dir / "daily/1.html").read_text(encoding="utf-8")
    assert on_disk.split("<body", 1)[0].split("</head>")[0] in response.text
    assert on_disk.split("</body>")[0].split('class="preheader"', 1)[1] in response.text
    assert "style-src 'unsafe-inline'" in response.headers["content-security-policy"]
    again = web.client.get("/archive/daily/1.html", headers={"if-none-match": "*"})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/media/news/harbour-dredging-to-begin.md",
        "/media/news/HARBOUR.MD",
        "/media/..%2fconfig.toml",
        "/media/%2e%2e/config.toml",
        "/media/images/..%2f..%2fconfig.toml",
        "/media/%2fetc%2fpasswd",
        "/media/images/",
        "/media/.hidden.png",
        "/media/images/leak.png",
        "/feeds/..%2fconfig.toml",
        "/feeds/.rss.xml.tmp",
        "/feeds/categories/",
        "/archive/..%2fpublisher.db",
        "/archive/daily/missing.html",
    ],
)
def test_markdown_hidden_and_outside_files_are_404(web: Web, path: str) -> None:
    (web.config.content_dir / ".hidden.png").write_bytes(b"\x89PNG")
    (web.config.feeds_dir / ".rss.xml.tmp").write_bytes(b"<rss/>")
    outside = web.config.path.parent / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    leak = web.config.content_dir / "images/leak.png"
    if not leak.exists():
        leak.symlink_to(outside)
    response = web.client.get(path)
    assert response.status_code == 404, path
    assert b"secret" not in response.content


def test_media_file_revalidates_with_its_etag(web: Web) -> None:
    first = web.client.get("/media/images/market-chart.png")
    assert first.headers["content-type"] == "image/png"
    again = web.client.get(
        "/media/images/market-chart.png", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304


def test_stylesheet_is_served(web: Web) -> None:
    response = web.client.get("/static/site.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert b"--accent" in response.content


# Every response -----------------------------------------------------------------------------

EVERY_KIND = [
    ("GET", "/"),
    ("GET", DREDGING),
    ("GET", "/categories/news/"),
    ("GET", "/feeds/rss.xml"),
    ("GET", "/archive/daily/1.html"),
    ("GET", "/media/images/harbour-dredger.jpg"),
    ("GET", "/static/site.css"),
    ("GET", "/page/2/"),
    ("GET", "/page/1/"),
    ("GET", "/articles/"),
    ("GET", "/categories/"),
    ("GET", "/tags/harbour/"),
    ("GET", "/archive/"),
    ("GET", "/sitemap.xml"),
    ("GET", "/robots.txt"),
    ("GET", "/favicon.ico"),
    ("GET", "/no/such/page"),
    ("GET", "/confirm/garbage"),
    ("GET", "/unsubscribe/garbage"),
    ("POST", "/unsubscribe/garbage"),
    ("POST", "/subscribe"),
    ("PUT", "/"),
    ("DELETE", "/subscribe"),
]


@pytest.mark.parametrize(("method", "path"), EVERY_KIND)
def test_every_response_carries_the_security_headers(web: Web, method: str, path: str) -> None:
    response = web.client.request(method, path, follow_redirects=False)
    for header in SECURITY_HEADERS:
        assert header in response.headers, (header, response.status_code)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.status_code < 500


def test_security_headers_are_on_a_413_and_a_304_too(web: Web) -> None:
    big = web.client.post("/subscribe", content=b"x" * 50_000, headers={"content-type": FORM_TYPE})
    first = web.client.get("/feeds/rss.xml")
    not_modified = web.client.get(
        "/feeds/rss.xml", headers={"if-none-match": first.headers["etag"]}
    )
    for response in (big, not_modified):
        for header in SECURITY_HEADERS:
            assert header in response.headers


def test_wrong_method_gets_a_405_page(web: Web) -> None:
    response = web.client.put("/")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert "That does not work here" in page_text(response)


@pytest.mark.parametrize(
    "path", ["//evil.example/", "/articles/harbour-dredging-march", "/feeds", "/%2F%2Fevil.example"]
)
def test_no_answer_redirects(web: Web, path: str) -> None:
    response = web.client.get(path, follow_redirects=False)
    assert not response.is_redirect
    assert "location" not in response.headers


# The pure parts -----------------------------------------------------------------------------

NOW = 1_800_000_000


@given(form=st.text(max_size=30), other=st.text(max_size=30))
def test_form_token_passes_only_for_its_form_and_cookie(form: str, other: str) -> None:
    secret = b"k" * 32
    cookie = new_csrf_cookie()
    field = csrf_field(secret, form, cookie, NOW)
    assert csrf_field_is_valid(secret, form, cookie, field, NOW)
    assert not csrf_field_is_valid(secret, form, new_csrf_cookie(), field, NOW)
    assert not csrf_field_is_valid(b"j" * 32, form, cookie, field, NOW)
    assert csrf_field_is_valid(secret, other, cookie, field, NOW) == (other == form)


def test_form_token_lasts_one_day() -> None:
    secret, cookie = b"k" * 32, new_csrf_cookie()
    field = csrf_field(secret, "subscribe", cookie, NOW)
    lifetime = int(FORM_LIFETIME.total_seconds())
    assert csrf_field_is_valid(secret, "subscribe", cookie, field, NOW + lifetime)
    assert not csrf_field_is_valid(secret, "subscribe", cookie, field, NOW + lifetime + 1)
    assert not csrf_field_is_valid(secret, "subscribe", cookie, field, NOW - 3600)


@given(field=st.text(max_size=200), cookie=st.one_of(st.none(), st.text(max_size=40)))
def test_any_form_token_and_cookie_are_judged_without_error(field: str, cookie: str | None) -> None:
    assert csrf_field_is_valid(b"k" * 32, "subscribe", cookie, field, NOW) in (True, False)


@given(
    address=st.text(max_size=400),
    name=st.text(max_size=300),
    digests=st.lists(st.text(max_size=20), max_size=5),
)
def test_any_sign_up_fields_give_a_sign_up_or_named_problems(
    address: str, name: str, digests: list[str]
) -> None:
    request, problems = read_sign_up(
        {"email": [address], "name": [name], "digest": digests}, ["daily", "culture"]
    )
    assert (request is None) == bool(problems)
    assert set(problems) <= {"email", "name", "digests"}
    if request is not None:
        assert "\n" not in request.name
        assert "\r" not in request.name
        assert set(request.digests) <= {"daily", "culture"}


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


@given(st.text(max_size=100))
def test_any_accept_encoding_is_read_without_error(header: str) -> None:
    assert accepts_gzip(header) in (True, False)


def test_if_none_match_lists_and_weak_tags_match() -> None:
    assert etag_matches('"a", W/"b"', ['"b"'])
    assert etag_matches("*", ['"x"'])
    assert not etag_matches('"a"', ['"b"'])


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_rate_limit_counts_ipv4_addresses_and_ipv6_networks(host: str | None, key: str) -> None:
    assert client_key(host) == key


def test_secret_file_is_used_when_the_variable_is_unset(site: Site, clock: MovableClock) -> None:
    config = site.config()
    app = create_app(config, {}, clock)
    with TestClient(app) as client:
        assert client.get("/").status_code == 200
    assert (Path(config.path).resolve().parent / ".publisher-secret").exists()
