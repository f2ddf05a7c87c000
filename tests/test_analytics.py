"""Aggregate analytics: tracked links through real delivered messages (read from the Maildir),
the redirect and the pixel, unique counts without storing who, link scanners apart, forgetting,
and the bytes of every message unchanged while analytics is off."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import mailbox
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from publisher.analytics.links import link_mac, read_tracked, recipient_key, track_links
from publisher.audience.forgetting import forget_address
from publisher.audience.subscribers import add_subscriber, find_subscriber
from publisher.cli import main
from publisher.mail.delivery.send import send_edition
from publisher.store.analytics import edition_analytics
from publisher.store.schema import link_hits
from tests.admin_site import ENVIRON, SECRET, Dashboard, dashboard, published_site
from tests.conftest import MovableClock, Site
from tests.test_messages import SLOW_PATH_WARNING
from tests.untracked_messages import untracked_message_digests

# What the messages were before analytics existed (tests/untracked_messages.py run against
# that code), carried through each later change of the message itself: issue 20's signed
# Message-ID, issue 23's digest layout and landmarks, issue 25's Content-Language and
# translated words and dates, issue 23's curly quotes and summaries ending at a sentence.
# Analytics off must give these bytes exactly.
UNTRACKED_DIGESTS = [
    "3ecd725c76c142c965c63b61a6b1c2496e6915edfb4ebc3abd034f9be0075666",
    "e301fd69eed6b19aba59b30b800a289e72dfa84eaf8cc6dea40bc610b43da323",
]
TRACKED = "\n[analytics]\nper_subscriber = {per}\n"
READERS = ("robin@example.org", "kim@example.org", "lee@example.org")


def test_with_analytics_off_every_message_is_byte_for_byte_what_it_was(tmp_path: Path) -> None:
    assert untracked_message_digests(tmp_path) == UNTRACKED_DIGESTS


def test_tracking_keys_set_off_give_the_same_bytes(tmp_path: Path) -> None:
    # Appended to the last [[digests]] table, then the [analytics] table.
    extra = "track_clicks = false\ntrack_opens = false\n[analytics]\nper_subscriber = true\n"
    assert untracked_message_digests(tmp_path, extra) == UNTRACKED_DIGESTS


def tracked_site(site: Site, clock: MovableClock, per_subscriber: bool = False) -> Dashboard:
    text = site.config_path.read_text(encoding="utf-8")
    text = text.replace(
        'name = "daily"\n', 'name = "daily"\ntrack_clicks = true\ntrack_opens = true\n', 1
    )
    site.config_path.write_text(text + TRACKED.format(per=str(per_subscriber).lower()))
    return published_site(site, clock)  # type: ignore[return-value]


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Dashboard]:
    config = tracked_site(site, clock)
    with dashboard(config, clock) as opened:
        for address in READERS:
            add_subscriber(opened.store, address, "", ("daily",), clock())
        send_edition(opened.store, config, 1, ENVIRON, clock=clock)
        yield opened


def delivered(web: Dashboard, address: str) -> EmailMessage:
    box = mailbox.Maildir(web.config.maildir, create=False)
    for key in box.iterkeys():
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if address in str(message["To"]):
            return message
    raise AssertionError(f"no message to {address}")


def tracked_links(message: EmailMessage, kind: str = "html") -> list[str]:
    part = message.get_body((kind,))
    assert isinstance(part, EmailMessage)
    return re.findall(
        r"https?://[^\s\"'<>]+/r/[0-9]+/[0-9o]+/[^\s\"'<>/]+/[A-Za-z0-9_-]{16}", part.get_content()
    )


def local(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def article_link(web: Dashboard, message: EmailMessage) -> tuple[str, str]:
    """The tracked link of the message's first article, and the article's own URL."""
    with web.store.transaction() as connection:
        urls = connection.execute(sa.text("select link, url from edition_links")).all()
    article = next((link, url) for link, url in urls if "/articles/" in url)
    found = next(link for link in tracked_links(message) if f"/r/1/{article[0]}/" in link)
    return found, article[1]


def test_a_click_redirects_to_the_article_and_counts_once_per_recipient(web: Dashboard) -> None:
    web.clock.advance(hours=1)  # well after delivery: people, not scanners
    robin = delivered(web, "robin@example.org")
    link, article = article_link(web, robin)
    for _ in range(2):
        answer = web.client.get(local(link), follow_redirects=False)
        assert answer.status_code == 302
        assert answer.headers["location"] == article
        assert answer.headers["cache-control"] == "no-store"
    kim_link, _ = article_link(web, delivered(web, "kim@example.org"))
    assert kim_link != link
    assert web.client.get(local(kim_link), follow_redirects=False).status_code == 302
    with web.store.transaction() as connection:
        found = edition_analytics(connection, 1)
    [counted] = [each for each in found.links if each.url == article]
    assert (counted.unique, counted.total, counted.scanners) == (2, 3, 0)
    assert found.unique_clickers == 2


def test_the_text_part_carries_the_same_tracked_links(web: Dashboard) -> None:
    message = delivered(web, "robin@example.org")
    text_links = tracked_links(message, "plain")
    assert text_links
    assert set(text_links) <= set(tracked_links(message))


def test_any_changed_link_number_edition_part_or_mac_is_not_found(web: Dashboard) -> None:
    link, _ = article_link(web, delivered(web, "robin@example.org"))
    prefix, edition, number, part, mac = local(link).rsplit("/", 4)
    other = "0" if number != "0" else "1"
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    for changed in (
        f"{prefix}/{edition}/{other}/{part}/{mac}",
        f"{prefix}/2/{number}/{part}/{mac}",
        f"{prefix}/{edition}/{number}/{part[:-1]}z/{mac}",
        f"{prefix}/{edition}/{number}/{part}/{flipped}",
        f"{prefix}/{edition}/o/{part}/{mac}",
    ):
        assert web.client.get(changed, follow_redirects=False).status_code == 404, changed
    with web.store.transaction() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(link_hits)) == 0


def test_a_recipient_following_every_link_within_seconds_is_a_scanner_counted_apart(
    web: Dashboard,
) -> None:
    for link in dict.fromkeys(tracked_links(delivered(web, "lee@example.org"))):
        if "/o/" not in link:
            web.client.get(local(link), follow_redirects=False)
    web.clock.advance(hours=1)
    link, _ = article_link(web, delivered(web, "robin@example.org"))
    web.client.get(local(link), follow_redirects=False)
    with web.store.transaction() as connection:
        found = edition_analytics(connection, 1)
    assert found.scanners == 1
    assert found.unique_clickers == 1
    assert all(each.scanners == 1 for each in found.links)


def test_the_open_pixel_counts_opens(web: Dashboard) -> None:
    [pixel] = [link for link in tracked_links(delivered(web, "kim@example.org")) if "/o/" in link]
    answer = web.client.get(local(pixel))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    web.client.head(local(pixel))  # answered, never counted
    with web.store.transaction() as connection:
        found = edition_analytics(connection, 1)
    assert (found.opens_unique, found.opens_total) == (1, 1)


def test_no_subscriber_is_stored_unless_per_subscriber_is_on(web: Dashboard) -> None:
    robin = find_subscriber(web.store, "robin@example.org")
    assert robin is not None
    link, _ = article_link(web, delivered(web, "robin@example.org"))
    assert f"/{robin.id}-" not in link
    web.client.get(local(link), follow_redirects=False)
    with web.store.transaction() as connection:
        row = connection.execute(sa.select(link_hits)).one()
    assert row.subscriber_id is None
    assert row.recipient_key == recipient_key(SECRET.encode(), 1, robin.id)


def test_per_subscriber_keeps_who_and_forgetting_removes_every_trace(
    site: Site, clock: MovableClock
) -> None:
    config = tracked_site(site, clock, per_subscriber=True)
    with dashboard(config, clock) as web:
        for address in READERS:
            add_subscriber(web.store, address, "", ("daily",), clock())
        send_edition(web.store, config, 1, ENVIRON, clock=clock)
        clock.advance(hours=1)
        robin = find_subscriber(web.store, "robin@example.org")
        assert robin is not None
        message = delivered(web, "robin@example.org")
        link, _ = article_link(web, message)
        web.client.get(local(link), follow_redirects=False)
        [pixel] = [each for each in tracked_links(message) if "/o/" in each]
        web.client.get(local(pixel))
        with web.store.transaction() as connection:
            assert {row.subscriber_id for row in connection.execute(sa.select(link_hits))} == {
                robin.id
            }
            before = edition_analytics(connection, 1)
        forget_address(web.store, SECRET.encode(), "robin@example.org", clock())
        key = recipient_key(SECRET.encode(), 1, robin.id)
        with web.store.transaction() as connection:
            rows = connection.execute(sa.select(link_hits)).all()
            after = edition_analytics(connection, 1)
        assert len(rows) == 2
        assert all(row.subscriber_id is None for row in rows)
        assert all(row.recipient_key != key for row in rows)
        assert after == before


def test_status_json_and_the_api_report_clicks_and_opens(web: Dashboard) -> None:
    web.clock.advance(hours=1)
    link, _ = article_link(web, delivered(web, "robin@example.org"))
    web.client.get(local(link), follow_redirects=False)
    result = CliRunner().invoke(
        main, ["--config", str(web.config.path), "status", "--json"], env=ENVIRON
    )
    assert result.exit_code == 0, result.output
    daily = next(d for d in json.loads(result.output)["digests"] if d["name"] == "daily")
    analytics = daily["last_edition"]["analytics"]
    assert analytics["clicks"]["unique_recipients"] == 1
    assert "privacy" in analytics["opens"]["caveat"]
    from publisher.operators.apitokens import create_token

    _, token = create_token(web.store, "stats", "read", web.clock())
    record = web.client.get("/api/v1/editions/1", headers={"authorization": f"Bearer {token}"})
    assert record.json()["analytics"]["clicks"]["unique_recipients"] == 1
    web.sign_in()
    page = web.client.get("/admin/editions/1")
    assert "Clicks and opens" in page.text
    assert "privacy" in page.text


def test_track_links_keeps_our_own_links_and_numbers_each_url_once() -> None:
    html = (
        '<html><body><a href="https://a.example/x?a=1&amp;b=2">A</a>'
        '<a href="https://a.example/x?a=1&amp;b=2">again</a>'
        '<a href="https://x-publisher-unsubscribe-7f3c9e2a5b1d.invalid/">leave</a>'
        '<a href="mailto:me@example.org">mail</a></body></html>'
    )
    tracked = track_links(html, "See https://a.example/x?a=1&b=2 now", clicks=True, opens=False)
    assert tracked.targets == ("https://a.example/x?a=1&b=2",)
    assert tracked.html.count("x-publisher-link-") == 2
    assert "x-publisher-unsubscribe" in tracked.html
    assert "mailto:" in tracked.html
    assert "x-publisher-link-" in tracked.text


def test_a_tracked_url_verifies_only_as_made() -> None:
    secret = b"k" * 32
    part = "AAAAAAAAAAAA.1"
    mac = link_mac(secret, 3, "2", part)
    assert read_tracked(secret, "3", "2", part, mac) is not None
    assert read_tracked(b"x" * 32, "3", "2", part, mac) is None
    assert read_tracked(secret, "3", "02", part, mac) is None
    assert read_tracked(secret, "99999999999", "2", part, mac) is None


def test_a_tracked_message_decodes_to_what_personalize_gives(
    site: Site, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    from publisher.analytics.links import recipient_part, recipient_urls
    from publisher.mail.editions import edition_by_id
    from publisher.mail.mime import PreparedEdition
    from publisher.mail.render import Recipient, personalize

    config = tracked_site(site, clock)
    with dashboard(config, clock) as web:
        edition = edition_by_id(web.store, 1)
    with caplog.at_level(logging.WARNING, logger="publisher.mail.mime"):
        prepared = PreparedEdition(
            config, config.digest("daily"), 1, edition.created_at, edition.rendered, b"s" * 32
        )
    assert SLOW_PATH_WARNING not in caplog.text  # a tracked edition keeps the fast path
    part = recipient_part(b"s" * 32, 1, 7, 1_700_000_000, per_subscriber=False)
    links, pixel = recipient_urls(config.web_base_url, b"s" * 32, 1, len(edition.links), part, True)
    for name in ("Ann & <Bob> O'Brien é", ""):
        recipient = Recipient(
            name, "ann@example.org", "https://gazette.example.org/u?a=1&b=2", "", links, pixel
        )
        _, data = prepared.message_for(7, recipient)
        message = email.message_from_bytes(bytes(data), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        html, text = personalize(edition.rendered, recipient)
        html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
        assert isinstance(html_part, EmailMessage)
        assert isinstance(text_part, EmailMessage)
        assert html_part.get_content().replace("\r\n", "\n") == html.replace("\r\n", "\n")
        assert text_part.get_content().replace("\r\n", "\n") == text.replace("\r\n", "\n")
        assert all(link in html for link in links)
