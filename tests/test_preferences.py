"""Leaving one digest, the preferences page, a change of address and the welcome, over HTTP.

The app runs under Starlette's TestClient on a real SQLite store; editions go out through the
Maildir transport, and mail is read back from it as a mail client would.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from publisher.audience.links import preferences_url
from publisher.audience.preferences import save_preferences
from publisher.audience.subscribers import Subscriber, add_subscriber
from publisher.inbound.apply import subscriber_events
from publisher.mail.delivery.send import send_edition, start_delivery
from publisher.mail.editions import create_edition, list_editions
from publisher.site.gather import gather
from publisher.store.database import open_store
from publisher.store.schema import deliveries, subscribers
from publisher.store.statuses import SubscriberStatus
from tests.conftest import MovableClock, Site
from tests.test_web import ENVIRON, SECRET, Web, document, page_text, published, running

BASE = "https://gazette.example.org/"


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    yield from running(published(site, None, clock), clock)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def mails_to(web: Web, address: str) -> list[EmailMessage]:
    return [m for m in web.mails() if address in str(m["To"])]


def both_digests(web: Web, address: str = "ann@example.org") -> Subscriber:
    subscriber, _ = add_subscriber(web.store, address, "Ann", ["daily", "culture"], web.clock.now)
    return subscriber


def deliver(web: Web, digest: str) -> int:
    """Send the next edition of `digest`, or its latest if nothing is new; returns its id."""
    outcome = create_edition(web.store, web.config, digest, web.clock)
    edition = outcome.edition or list_editions(web.store, digest)[-1]
    send_edition(web.store, web.config, edition.id, ENVIRON, clock=web.clock)
    return edition.id


def new_article(web: Web, site: Site, slug: str) -> None:
    web.clock.advance(hours=1)
    site.write_article(
        f"news/{slug}.md",
        f'---\ntitle: "Story {slug}"\ndate: 2026-11-25T12:30:00Z\ncategories: [News]\n---\n\n'
        f"The first paragraph of {slug}.\n",
    )
    gather(web.store, web.config, web.clock)


def list_unsubscribe_path(message: EmailMessage) -> str:
    found = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
    assert found is not None
    return urlsplit(found.group(1)).path


def old_unsubscribe_path(subscriber: Subscriber) -> str:
    """The link every message carried before unsubscribing went per digest."""
    from publisher.audience.tokens import make_token

    token = make_token(SECRET.encode(), "unsubscribe", subscriber.id, subscriber.token_nonce)
    return f"/unsubscribe/{token}"


def preferences_path(subscriber: Subscriber) -> str:
    url = preferences_url(BASE, SECRET.encode(), subscriber.id, subscriber.token_nonce)
    return urlsplit(url).path


# Leaving one digest ---------------------------------------------------------------------------


def test_one_click_on_the_culture_message_leaves_culture_only_and_the_daily_still_arrives(
    web: Web, site: Site
) -> None:
    both_digests(web)
    deliver(web, "culture")
    (culture,) = mails_to(web, "ann@example.org")
    assert str(culture["List-Id"]).endswith("<culture.gazette.example.org>")
    path = list_unsubscribe_path(culture)
    assert path.startswith("/unsubscribe/culture/")
    assert path in text_of(culture)  # the footer link is the same URL
    assert web.one_click(path).status_code == 200
    ann = web.subscriber("ann@example.org")
    assert (ann.status, ann.digests) == (SubscriberStatus.CONFIRMED, ("daily",))
    # `subscribers show` lists every unsubscribe: the web's too, with the digest left.
    shown = [(e.kind, e.source, e.digest) for e in subscriber_events(web.store, ann.id)]
    assert shown == [("unsubscribe", "web", "culture")]
    new_article(web, site, "after-leaving")
    deliver(web, "daily")
    daily = mails_to(web, "ann@example.org")[-1]
    assert str(daily["List-Id"]).endswith("<daily.gazette.example.org>")
    assert "Story after-leaving" in text_of(daily)


def test_the_unsubscribe_page_leaves_only_that_digest_by_default(web: Web) -> None:
    both_digests(web)
    deliver(web, "culture")
    path = list_unsubscribe_path(mails_to(web, "ann@example.org")[0])
    page = document(web.client.get(path))
    assert page.xpath("//input[@name='scope' and @checked]/@value") == ["digest"]
    assert "Port Alder Culture Weekly" in str(page.text_content())
    assert web.subscriber("ann@example.org").digests == ("culture", "daily")  # GET changed nothing
    response = web.press(path)
    assert response.status_code == 200
    assert "still receives" in page_text(response)
    ann = web.subscriber("ann@example.org")
    assert (ann.status, ann.digests) == (SubscriberStatus.CONFIRMED, ("daily",))


def test_choosing_everything_on_the_page_unsubscribes_from_both(web: Web) -> None:
    both_digests(web)
    deliver(web, "culture")
    path = list_unsubscribe_path(mails_to(web, "ann@example.org")[0])
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.client.get(path).text)
    assert token is not None
    response = web.client.post(path, data={"csrf_token": token.group(1), "scope": "all"})
    assert response.status_code == 200
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED


def test_leaving_the_last_digest_unsubscribes(web: Web) -> None:
    both_digests(web)
    deliver(web, "culture")
    web.one_click(list_unsubscribe_path(mails_to(web, "ann@example.org")[0]))
    deliver(web, "daily")
    web.one_click(list_unsubscribe_path(mails_to(web, "ann@example.org")[-1]))
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED


def test_a_link_from_a_message_sent_before_the_change_still_unsubscribes_from_everything(
    web: Web,
) -> None:
    ann = both_digests(web)
    assert web.one_click(old_unsubscribe_path(ann)).status_code == 200
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED


def test_a_digest_link_cannot_be_turned_to_another_digest(web: Web) -> None:
    both_digests(web)
    deliver(web, "culture")
    path = list_unsubscribe_path(mails_to(web, "ann@example.org")[0])
    forged = path.replace("/culture/", "/daily/")
    assert web.one_click(forged).status_code == 404
    assert web.client.get(forged).status_code == 404
    assert web.subscriber("ann@example.org").digests == ("culture", "daily")


# The preferences page -----------------------------------------------------------------------


def test_every_message_links_the_preferences_page_which_shows_the_choices(web: Web) -> None:
    ann = both_digests(web)
    deliver(web, "daily")
    (daily,) = mails_to(web, "ann@example.org")
    assert f"{BASE}preferences/" in text_of(daily)
    path = preferences_path(ann)
    assert f"{BASE.rstrip('/')}{path}" in text_of(daily)
    page = document(web.client.get(path))
    assert sorted(page.xpath("//input[@name='digest' and @checked]/@value")) == [
        "culture",
        "daily",
    ]
    assert page.xpath("//input[@name='name']/@value") == ["Ann"]


def test_opening_the_preferences_page_changes_nothing(web: Web) -> None:
    ann = both_digests(web)
    for _ in range(3):
        assert web.client.get(preferences_path(ann)).status_code == 200
    assert web.subscriber("ann@example.org") == ann


@pytest.mark.parametrize(
    "token", ["nonsense", "1.0.AAAA", "99999.0.abcdefghijklmnopqrstuvwxyzABCDEF"]
)
def test_a_bad_preferences_token_is_404(web: Web, token: str) -> None:
    both_digests(web)
    assert web.client.get(f"/preferences/{token}").status_code == 404


def test_an_unsubscribe_token_is_not_a_preferences_token(web: Web) -> None:
    ann = both_digests(web)
    token = old_unsubscribe_path(ann).rsplit("/", 1)[1]
    assert web.client.get(f"/preferences/{token}").status_code == 404


def test_saving_preferences_without_the_form_token_is_refused(web: Web) -> None:
    ann = both_digests(web)
    path = preferences_path(ann)
    web.client.get(path)
    response = web.client.post(path, data={"action": "save", "digest": "daily"})
    assert response.status_code == 403
    assert web.subscriber("ann@example.org") == ann


def save(web: Web, path: str, **fields: str | list[str]) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.client.get(path).text)
    assert token is not None
    response = web.client.post(path, data={"csrf_token": token.group(1), **fields})
    return f"{response.status_code} {page_text(response)}"


def test_a_pause_skips_editions_made_until_that_day_in_the_ledger(web: Web, site: Site) -> None:
    ann = both_digests(web)
    bob, _ = add_subscriber(web.store, "bob@example.org", "Bob", ["daily"], web.clock.now)
    result = save(
        web,
        preferences_path(ann),
        action="save",
        digest=["daily"],
        name="Ann",
        paused_until="2026-11-28",
    )
    assert result.startswith("200")
    assert "paused until 28 November 2026" in result
    new_article(web, site, "while-paused")
    edition_id = deliver(web, "daily")
    assert [str(m["To"]) for m in web.mails()] == ["Bob <bob@example.org>"]
    with web.store.transaction() as connection:
        rows = dict(
            connection.execute(
                sa.select(deliveries.c.subscriber_id, deliveries.c.status).where(
                    deliveries.c.edition_id == edition_id
                )
            ).all()
        )
    assert rows == {ann.id: "skipped", bob.id: "sent"}
    web.clock.advance(days=3)  # 28 November has begun in London
    new_article(web, site, "after-the-pause")
    deliver(web, "daily")
    assert "Story after-the-pause" in text_of(mails_to(web, "ann@example.org")[-1])


def test_a_pause_more_than_a_year_ahead_or_not_a_date_is_refused(web: Web) -> None:
    ann = both_digests(web)
    for bad in ("2028-01-01", "next week", "2026-02-30"):
        result = save(web, preferences_path(ann), action="save", digest=["daily"], paused_until=bad)
        assert result.startswith("400"), bad
    assert web.subscriber("ann@example.org") == ann


def test_unchecking_every_digest_unsubscribes_and_checking_one_again_resubscribes(web: Web) -> None:
    ann = both_digests(web)
    assert "unsubscribed from everything" in save(web, preferences_path(ann), action="save")
    assert web.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED
    save(web, preferences_path(ann), action="save", digest=["culture"])
    back = web.subscriber("ann@example.org")
    assert (back.status, back.digests) == (SubscriberStatus.CONFIRMED, ("culture",))


def test_unknown_digest_or_a_name_with_a_line_break_is_refused(web: Web) -> None:
    ann = both_digests(web)
    assert save(web, preferences_path(ann), action="save", digest=["nope"]).startswith("400")
    assert save(
        web, preferences_path(ann), action="save", digest=["daily"], name="A\nB"
    ).startswith("400")
    assert web.subscriber("ann@example.org") == ann


# A change of address ------------------------------------------------------------------------


def address_link(message: EmailMessage) -> str:
    found = re.search(r"https://\S+/address/\S+", text_of(message))
    assert found is not None
    return urlsplit(found.group()).path


def test_a_new_address_takes_effect_only_when_confirmed_there(web: Web) -> None:
    ann = both_digests(web)
    result = save(
        web, preferences_path(ann), action="change_address", new_email="ann@new.example.net"
    )
    assert result.startswith("200")
    assert "We sent a link to the new address" in result
    assert web.subscriber("ann@example.org").email == "ann@example.org"
    (mail,) = mails_to(web, "ann@new.example.net")
    link = address_link(mail)
    for _ in range(2):
        assert "ann@new.example.net" in page_text(web.client.get(link))
    assert web.subscriber("ann@example.org").email == "ann@example.org"  # GET changed nothing
    response = web.press(link)
    assert response.status_code == 200
    moved = web.subscriber("ann@new.example.net")
    assert (moved.id, moved.digests) == (ann.id, ann.digests)
    with web.store.transaction() as connection:
        left = connection.scalar(
            sa.select(sa.func.count()).where(subscribers.c.email == "ann@example.org")
        )
    assert left == 0
    assert web.client.get(link).status_code == 404  # used up
    # Links mailed to the old address stop working: its owner may no longer be Ann.
    assert moved.token_nonce != ann.token_nonce
    assert web.client.get(preferences_path(ann)).status_code == 404  # as any bad link
    assert web.client.get(preferences_path(moved)).status_code == 200


def test_an_address_link_expires_and_cannot_be_bent_to_another_address(web: Web) -> None:
    ann = both_digests(web)
    save(web, preferences_path(ann), action="change_address", new_email="ann@new.example.net")
    link = address_link(mails_to(web, "ann@new.example.net")[0])
    save(web, preferences_path(ann), action="change_address", new_email="eve@evil.example")
    assert web.client.get(link).status_code == 404  # the change asked for is another now
    fresh = address_link(mails_to(web, "eve@evil.example")[0])
    web.clock.advance(days=3)
    assert web.client.get(fresh).status_code == 410
    assert web.subscriber("ann@example.org").id == ann.id


def test_moving_to_an_address_another_subscriber_has_is_refused(web: Web) -> None:
    ann = both_digests(web)
    add_subscriber(web.store, "bob@example.org", "Bob", ["daily"], web.clock.now)
    save(web, preferences_path(ann), action="change_address", new_email="bob@example.org")
    link = address_link(mails_to(web, "bob@example.org")[-1])
    assert web.press(link).status_code == 409
    assert web.subscriber("ann@example.org").id == ann.id


# The welcome --------------------------------------------------------------------------------


def welcomes(web: Web) -> list[EmailMessage]:
    return [m for m in web.mails() if str(m["Subject"]).startswith("Welcome to")]


def test_exactly_one_welcome_after_a_confirm_posted_twice(web: Web) -> None:
    deliver(web, "culture")
    web.sign_up("ann@example.org", "Ann", ["daily", "culture"])
    confirm = web.confirm_path(web.mails()[-1])
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.client.get(confirm).text)
    assert token is not None
    for _ in range(2):
        assert web.client.post(confirm, data={"csrf_token": token.group(1)}).status_code == 200
    (welcome,) = welcomes(web)
    ann = web.subscriber("ann@example.org")
    text = text_of(welcome)
    assert f"{BASE.rstrip('/')}{preferences_path(ann)}" in text
    assert "The Harbour Gazette Daily" in text
    assert "Port Alder Culture Weekly" in text
    assert f"{BASE}archive/culture/1.html" in text
    assert f"{BASE}archive/daily/1.html" in text
    html = welcome.get_body(("html",))
    assert isinstance(html, EmailMessage)
    assert 'style="' in html.get_content()  # CSS inlined
    assert "<style" in html.get_content() or 'style="' in html.get_content()


def test_welcome_false_sends_none(site: Site, clock: MovableClock) -> None:
    site.config_path.write_text(site.config_path.read_text() + "\n[web]\nwelcome = false\n")
    for web in running(published(site, None, clock), clock):
        web.confirmed("ann@example.org")
        assert welcomes(web) == []


# On each store -------------------------------------------------------------------------------


def test_a_paused_subscribers_ledger_row_is_frozen_as_skipped_on_each_store(
    site: Site, store_url: str, clock: MovableClock
) -> None:
    config = dataclasses.replace(site.config(), store_url=store_url)
    with open_store(store_url) as store:
        gather(store, config, clock)
        ann, _ = add_subscriber(store, "ann@example.org", "Ann", ["daily"], clock.now)
        bob, _ = add_subscriber(store, "bob@example.org", "Bob", ["daily"], clock.now)
        until = clock.now + timedelta(days=2)
        save_preferences(store, ann.id, ["daily"], "Ann", until, clock.now)
        edition = create_edition(store, config, "daily", clock).edition
        assert edition is not None
        start_delivery(store, edition.id, clock.now)
        with store.transaction() as connection:
            rows = dict(
                connection.execute(
                    sa.select(deliveries.c.subscriber_id, deliveries.c.status).where(
                        deliveries.c.edition_id == edition.id
                    )
                ).all()
            )
        assert rows == {ann.id: "skipped", bob.id: "pending"}
        clock.advance(days=2, seconds=1)  # an edition made after the pause ended reaches Ann
        site.write_article(
            "news/later.md", "---\ntitle: Later\ndate: 2026-11-27T10:00:00Z\n---\n\nLater.\n"
        )
        gather(store, config, clock)
        later = create_edition(store, config, "daily", clock).edition
        assert later is not None
        start_delivery(store, later.id, clock.now)
        with store.transaction() as connection:
            statuses = connection.execute(
                sa.select(deliveries.c.status).where(deliveries.c.edition_id == later.id)
            ).scalars()
            assert sorted(statuses) == ["pending", "pending"]


def test_changes_of_address_are_throttled_per_subscriber(web: Web) -> None:
    ann = both_digests(web)
    limit = web.config.web.subscribe_limit
    for number in range(limit):
        new_email = f"ann{number}@new.example.net"
        assert (
            save(web, preferences_path(ann), action="change_address", new_email=new_email)[:3]
            == "200"
        )
    refused = save(web, preferences_path(ann), action="change_address", new_email="x@y.example")
    assert refused.startswith("429")
    assert len(web.mails()) == limit
    web.clock.advance(hours=1, seconds=1)
    again = save(web, preferences_path(ann), action="change_address", new_email="x@y.example")
    assert again.startswith("200")
