"""Applying inbound events to subscribers, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from publisher.audience.subscribers import (
    SubscriberError,
    add_subscriber,
    confirm_subscriber,
    find_subscriber,
    request_subscription,
)
from publisher.config import Config
from publisher.inbound.apply import (
    APPLIED,
    DUPLICATE,
    UNMATCHED,
    UNVERIFIED,
    apply_event,
    subscriber_events,
)
from publisher.inbound.classify import classify_message
from publisher.inbound.events import InboundEvent
from publisher.mail.delivery.send import start_delivery
from publisher.mail.editions import create_edition
from publisher.mail.mime import message_id
from publisher.mail.transport.returnpath import BOUNCE, PROBE, UNSUBSCRIBE, make_return_token
from publisher.site.gather import gather
from publisher.store.database import Store
from publisher.store.schema import deliveries
from publisher.store.statuses import EventKind, SubscriberStatus
from tests.conftest import MovableClock, Site
from tests.inbound_mail import inbound_message

SECRET = b"a test secret of enough length"


def delivery_of(store: Store, site: Site, clock: MovableClock, email: str) -> int:
    """Make the daily digest's edition, freeze its recipients, return `email`'s delivery row."""
    config = site.config()
    gather(store, config, clock)
    outcome = create_edition(store, config, "daily", clock)
    assert outcome.edition is not None
    start_delivery(store, outcome.edition.id, clock())
    with store.transaction() as connection:
        return int(
            connection.scalar(
                sa.select(deliveries.c.id).where(
                    deliveries.c.edition_id == outcome.edition.id, deliveries.c.email == email
                )
            )
        )


def apply_mail(store: Store, config: Config, raw: bytes, clock: MovableClock) -> list[str]:
    return [
        apply_event(store, config, SECRET, event, clock()).outcome
        for event in classify_message(raw).events
    ]


def status_of(store: Store, email: str) -> tuple[str, int, tuple[str, ...]]:
    found = find_subscriber(store, email)
    assert found is not None
    return found.status, found.hard_bounces, found.digests


def test_hard_bounce_by_token_reaches_the_bounce_limit_once_per_report(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = site.config()  # bounce_limit 3
    add_subscriber(store, "someone@example.org", "", ("daily",), clock())
    add_subscriber(store, "ann@example.net", "Ann", ("daily", "culture"), clock())
    row = delivery_of(store, site, clock, "someone@example.org")
    token = make_return_token(SECRET, BOUNCE, row)
    # The DSN names ann@example.net, but the token says which delivery bounced.
    assert apply_mail(store, config, inbound_message("postfix_dsn", token), clock) == [APPLIED]
    assert apply_mail(store, config, inbound_message("postfix_dsn", token), clock) == [DUPLICATE]
    assert status_of(store, "someone@example.org")[:2] == (SubscriberStatus.CONFIRMED, 1)
    assert status_of(store, "ann@example.net")[:2] == (SubscriberStatus.CONFIRMED, 0)
    for name in ("exim_bounce", "sendmail_dsn"):
        apply_mail(store, config, inbound_message(name, token), clock)
    assert status_of(store, "someone@example.org")[:2] == (SubscriberStatus.BOUNCED, 3)
    subscriber = find_subscriber(store, "someone@example.org")
    assert subscriber is not None
    shown = subscriber_events(store, subscriber.id)
    assert [(e.kind, e.code, e.delivery_id) for e in shown] == [
        (EventKind.HARD_BOUNCE, "5.1.1", row),
        (EventKind.HARD_BOUNCE, "5.1.1", row),
        (EventKind.HARD_BOUNCE, "5.2.1", row),
    ]
    assert "User unknown" in shown[0].diagnostic


def test_a_bounce_naming_only_an_address_is_recorded_unverified_and_changes_nothing(
    site: Site, store: Store, clock: MovableClock
) -> None:
    add_subscriber(store, "Ann@Example.net", "Ann", ("daily",), clock())
    outcomes = apply_mail(store, site.config(), inbound_message("postfix_dsn"), clock)
    assert outcomes == [UNVERIFIED]
    assert status_of(store, "ann@example.net")[:2] == (SubscriberStatus.CONFIRMED, 0)
    subscriber = find_subscriber(store, "ann@example.net")
    assert subscriber is not None
    shown = subscriber_events(store, subscriber.id)
    assert [(e.kind, e.verified) for e in shown] == [(EventKind.HARD_BOUNCE, False)]


def test_forged_token_falls_back_to_unverified_evidence_about_the_address(
    site: Site, store: Store, clock: MovableClock
) -> None:
    add_subscriber(store, "someone@example.org", "", ("daily",), clock())
    add_subscriber(store, "bob@example.com", "", ("daily",), clock())
    row = delivery_of(store, site, clock, "someone@example.org")
    forged = make_return_token(b"not the site's secret at all", BOUNCE, row)
    outcomes = apply_mail(store, site.config(), inbound_message("exim_bounce", forged), clock)
    assert outcomes == [UNVERIFIED]
    assert status_of(store, "someone@example.org")[1] == 0
    assert status_of(store, "bob@example.com")[1] == 0


def test_a_forged_complaint_quoting_a_guessable_message_id_removes_nobody(
    site: Site, store: Store, clock: MovableClock
) -> None:
    """Issue 20, item 1: the old Message-ID was sha256 of public data; an ARF quoting it from
    anyone marked the subscriber `complained`."""
    import hashlib

    config = site.config()
    add_subscriber(store, "carol@example.com", "", ("daily",), clock())
    subscriber, _ = add_subscriber(store, "heidi@example.net", "Heidi", ("daily",), clock())
    delivery_of(store, site, clock, "heidi@example.net")
    public = hashlib.sha256(f"e1.s{subscriber.id}@gazette.example.org".encode()).hexdigest()
    guessed = f"<e1.s{subscriber.id}.{public[:12]}@gazette.example.org>".encode()
    raw = re.sub(
        rb"<e1\.s8\.[0-9a-f]{12}@gazette\.example\.org>", guessed, inbound_message("arf_report")
    )
    assert guessed in raw
    assert apply_mail(store, config, raw, clock) == [UNVERIFIED]
    assert status_of(store, "heidi@example.net") == (SubscriberStatus.CONFIRMED, 0, ("daily",))


def test_unverified_evidence_counts_once_a_day_and_never_bounces_by_itself(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = site.config()  # bounce_limit 3, no bounce address: no probe can be sent
    add_subscriber(store, "ann@example.net", "Ann", ("daily",), clock())
    outcomes = []
    for name in ("postfix_dsn", "postfix_dsn", "exim_bounce", "gmail_bounce"):
        outcomes += apply_mail(store, config, inbound_message(name), clock)
        clock.advance(hours=1)
    assert outcomes[0] == UNVERIFIED
    assert set(outcomes[1:]) <= {DUPLICATE, UNMATCHED}
    for _ in range(5):
        clock.advance(days=1)
        result = apply_event(
            store,
            config,
            SECRET,
            InboundEvent(EventKind.HARD_BOUNCE, f"t:{clock()}", "ann@example.net", source="mail"),
            clock(),
        )
        assert result.outcome == UNVERIFIED
        assert not result.probe_due
    assert status_of(store, "ann@example.net")[:2] == (SubscriberStatus.CONFIRMED, 0)


def with_bounce_address(site: Site) -> Config:
    text = site.config_path.read_text().replace(
        "[mail]\n", '[mail]\nbounce_address = "bounces@gazette.example.org"\n', 1
    )
    site.config_path.write_text(text)
    return site.config()


def test_evidence_at_the_limit_makes_a_probe_due_and_only_its_bounce_ends_the_subscription(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = with_bounce_address(site)  # bounce_limit 3
    subscriber, _ = add_subscriber(store, "ann@example.net", "Ann", ("daily",), clock())

    def evidence(day: int) -> bool:
        event = InboundEvent(EventKind.COMPLAINT, f"t:{day}", "ann@example.net", source="mail")
        result = apply_event(store, config, SECRET, event, clock())
        assert result.outcome == UNVERIFIED
        clock.advance(days=1)
        return result.probe_due

    assert [evidence(day) for day in range(4)] == [False, False, True, False]
    assert status_of(store, "ann@example.net")[0] == SubscriberStatus.CONFIRMED
    forged = make_return_token(b"not the site's secret at all", PROBE, subscriber.id)
    assert apply_mail(store, config, inbound_message("exim_bounce", forged), clock) != [APPLIED]
    assert status_of(store, "ann@example.net")[0] == SubscriberStatus.CONFIRMED
    token = make_return_token(SECRET, PROBE, subscriber.id)
    assert apply_mail(store, config, inbound_message("postfix_dsn", token), clock) == [APPLIED]
    assert status_of(store, "ann@example.net")[:2] == (SubscriberStatus.BOUNCED, 1)


def test_bounce_for_an_unknown_address_is_unmatched(
    site: Site, store: Store, clock: MovableClock
) -> None:
    assert apply_mail(store, site.config(), inbound_message("yahoo_bounce"), clock) == [UNMATCHED]


def test_soft_bounces_count_only_when_enough_arrive_within_the_window(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = site.config()  # soft_bounce_limit 5 within 30d
    add_subscriber(store, "carol@example.com", "", ("daily",), clock())

    def soft(number: int) -> None:
        event = InboundEvent(
            EventKind.SOFT_BOUNCE,
            f"test:{number}",
            "carol@example.com",
            code="4.2.2",
            source="mailgun",  # a signed webhook: authenticated by its signature
        )
        assert apply_event(store, config, SECRET, event, clock()).outcome == APPLIED

    for number in range(4):
        soft(number)
        clock.advance(days=10)
    # Four in 40 days, never five within 30: nothing counted.
    assert status_of(store, "carol@example.com")[1] == 0
    for number in range(4, 9):
        soft(number)
        clock.advance(hours=1)
    assert status_of(store, "carol@example.com")[1] == 1


def test_delayed_notice_is_a_soft_bounce(site: Site, store: Store, clock: MovableClock) -> None:
    add_subscriber(store, "carol@example.com", "", ("daily",), clock())
    row = delivery_of(store, site, clock, "carol@example.com")
    token = make_return_token(SECRET, BOUNCE, row)
    apply_mail(store, site.config(), inbound_message("postfix_delayed", token), clock)
    subscriber = find_subscriber(store, "carol@example.com")
    assert subscriber is not None
    assert [e.kind for e in subscriber_events(store, subscriber.id)] == [EventKind.SOFT_BOUNCE]
    assert subscriber.hard_bounces == 0


def test_complaint_unsubscribes_from_everything_until_a_new_double_opt_in(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = site.config()
    add_subscriber(store, "heidi@example.net", "Heidi", ("daily", "culture"), clock())
    row = delivery_of(store, site, clock, "heidi@example.net")
    token = make_return_token(SECRET, BOUNCE, row)
    assert apply_mail(store, config, inbound_message("arf_report", token), clock) == [APPLIED]
    assert status_of(store, "heidi@example.net") == (SubscriberStatus.COMPLAINED, 0, ())
    subscriber = find_subscriber(store, "heidi@example.net")
    assert subscriber is not None
    assert [e.kind for e in subscriber_events(store, subscriber.id)] == [EventKind.COMPLAINT]
    with pytest.raises(SubscriberError, match="spam"):
        add_subscriber(store, "heidi@example.net", "Heidi", ("daily",), clock())
    assert status_of(store, "heidi@example.net")[0] == SubscriberStatus.COMPLAINED
    sign_up = request_subscription(
        store, "heidi@example.net", "Heidi", ("daily",), clock(), timedelta(hours=1)
    )
    assert sign_up.send_confirmation
    confirm_subscriber(store, subscriber.id, clock())
    assert status_of(store, "heidi@example.net") == (SubscriberStatus.CONFIRMED, 0, ("daily",))


def test_mailto_unsubscribe_leaves_only_that_digest(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = site.config()
    add_subscriber(store, "kim@example.com", "Kim", ("daily", "culture"), clock())
    row = delivery_of(store, site, clock, "kim@example.com")
    token = make_return_token(SECRET, UNSUBSCRIBE, row)
    raw = inbound_message("unsubscribe", unsubscribe_token=token)
    assert apply_mail(store, config, raw, clock) == [APPLIED]
    assert status_of(store, "kim@example.com") == (SubscriberStatus.CONFIRMED, 0, ("culture",))
    assert apply_mail(store, config, raw, clock) == [DUPLICATE]
    # The subject form of the same token, from a client that drops the address detail.
    by_subject = inbound_message("unsubscribe_by_subject", unsubscribe_token=token)
    assert apply_mail(store, config, by_subject, clock) == [APPLIED]
    assert status_of(store, "kim@example.com") == (SubscriberStatus.CONFIRMED, 0, ("culture",))


def test_mailto_unsubscribe_of_the_last_digest_unsubscribes(
    site: Site, store: Store, clock: MovableClock
) -> None:
    add_subscriber(store, "kim@example.com", "Kim", ("daily",), clock())
    row = delivery_of(store, site, clock, "kim@example.com")
    token = make_return_token(SECRET, UNSUBSCRIBE, row)
    raw = inbound_message("unsubscribe", unsubscribe_token=token)
    apply_mail(store, site.config(), raw, clock)
    assert status_of(store, "kim@example.com") == (SubscriberStatus.UNSUBSCRIBED, 0, ())


def test_unsubscribe_with_a_return_path_token_is_refused(
    site: Site, store: Store, clock: MovableClock
) -> None:
    add_subscriber(store, "kim@example.com", "Kim", ("daily",), clock())
    row = delivery_of(store, site, clock, "kim@example.com")
    event = InboundEvent("unsubscribe", "test:1", token=make_return_token(SECRET, BOUNCE, row))
    assert apply_event(store, site.config(), SECRET, event, clock()).outcome == UNMATCHED
    assert status_of(store, "kim@example.com")[0] == SubscriberStatus.CONFIRMED


@pytest.mark.parametrize("name", ["postfix_dsn", "exim_bounce", "exchange_dsn", "yahoo_bounce"])
def test_bounce_without_a_token_finds_the_delivery_by_our_quoted_message_id(
    site: Site, store: Store, clock: MovableClock, name: str
) -> None:
    subscriber, _ = add_subscriber(store, "reader@example.org", "", ("daily",), clock())
    row = delivery_of(store, site, clock, "reader@example.org")
    with store.transaction() as connection:
        edition_id = connection.scalar(
            sa.select(deliveries.c.edition_id).where(deliveries.c.id == row)
        )
    ours = message_id(int(edition_id), subscriber.id, site.config().site.url, SECRET).encode()
    # A forwarded address bounced: the report names nobody we know, but quotes our Message-ID.
    raw = re.sub(rb"<e1\.s\d+\.[0-9a-f]{12}@gazette\.example\.org>", ours, inbound_message(name))
    assert ours in raw
    assert apply_mail(store, site.config(), raw, clock) == [APPLIED]
    assert status_of(store, "reader@example.org")[1] == 1
    shown = subscriber_events(store, subscriber.id)
    assert [(e.delivery_id, e.edition_id) for e in shown] == [(row, edition_id)]


def test_a_forged_message_id_is_not_ours(site: Site, store: Store, clock: MovableClock) -> None:
    add_subscriber(store, "reader@example.org", "", ("daily",), clock())
    delivery_of(store, site, clock, "reader@example.org")
    raw = inbound_message("postfix_dsn").replace(
        b"<e1.s1.0a1b2c3d4e5f@gazette.example.org>", b"<e1.s1.000000000000@gazette.example.org>"
    )
    assert apply_mail(store, site.config(), raw, clock) == [UNMATCHED]
    assert status_of(store, "reader@example.org")[1] == 0
    signed_elsewhere = message_id(1, 1, site.config().site.url, b"another site's secret").encode()
    raw = re.sub(rb"<e1\.s1\.[0-9a-f]{12}@gazette\.example\.org>", signed_elsewhere, raw)
    assert apply_mail(store, site.config(), raw, clock) == [UNMATCHED]
