"""Subscribers on SQLite and PostgreSQL: validation, uniqueness, status, CSV import and export."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.audience.exports import export_csv
from publisher.audience.imports import import_csv
from publisher.audience.subscribers import (
    SubscriberError,
    add_subscriber,
    check_address,
    confirm_subscriber,
    find_subscriber,
    list_subscribers,
    remove_subscriber,
    request_subscription,
)
from publisher.audience.tokens import make_token, read_token, token_is_valid
from publisher.store.database import Store
from publisher.store.schema import subscribers
from publisher.store.statuses import SubscriberStatus
from tests.conftest import SAMPLE_NOW

DIGESTS = ("daily", "culture")


def test_operator_added_subscriber_is_confirmed_for_every_digest(store: Store) -> None:
    subscriber, created = add_subscriber(store, "Ann@Example.ORG", "Ann", (), SAMPLE_NOW)
    assert created
    assert subscriber.status == SubscriberStatus.CONFIRMED
    assert subscriber.email == "Ann@example.org"  # the domain is normalized, the local part kept
    assert subscriber.digests == ()
    subscriber, _ = add_subscriber(store, "ann@example.org", "Ann", DIGESTS, SAMPLE_NOW)
    assert subscriber.digests == ("culture", "daily")


def test_addresses_are_unique_ignoring_case(store: Store) -> None:
    add_subscriber(store, "bob@example.org", "Bob", DIGESTS, SAMPLE_NOW)
    _, created = add_subscriber(store, "BOB@EXAMPLE.ORG", "Robert", DIGESTS, SAMPLE_NOW)
    assert not created
    [only] = list_subscribers(store)
    assert only.name == "Robert"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("no-at-sign.example.org", "@-sign"),
        ("two@@example.org", "invalid characters"),
        ("someone@", "after the @-sign"),
        ("a b@example.org", "invalid characters before the @-sign"),
        ("eve@example.org\r\nBcc: all@example.org", "line break"),
    ],
)
def test_bad_address_is_refused_with_a_reason(address: str, reason: str) -> None:
    with pytest.raises(SubscriberError, match=reason):
        check_address(address)


def test_name_with_a_line_break_is_refused(store: Store) -> None:
    with pytest.raises(SubscriberError, match="line break"):
        add_subscriber(store, "c@example.org", "Carol\nBcc: x@example.org", DIGESTS, SAMPLE_NOW)


def test_removed_subscriber_is_kept_as_unsubscribed(store: Store) -> None:
    add_subscriber(store, "dan@example.org", "Dan", DIGESTS, SAMPLE_NOW)
    removed = remove_subscriber(store, "DAN@example.org", SAMPLE_NOW)
    assert removed.status == SubscriberStatus.UNSUBSCRIBED
    assert list_subscribers(store, status=SubscriberStatus.CONFIRMED) == []


def test_import_reports_bad_rows_by_line_and_imports_the_rest(store: Store) -> None:
    text = (
        "email,name,digests\n"
        "ann@example.org,Ann,daily\n"
        "not-an-address,Bad,daily\n"
        "bob@example.org,Bob,\n"
        "cat@example.org,Cat,weekly\n"
        "ANN@example.org,Ann again,daily\n"
    )
    report = import_csv(store, text, DIGESTS, SAMPLE_NOW)
    assert (report.added, report.updated) == (2, 0)
    assert report.errors[0].startswith("line 3: bad address 'not-an-address'")
    assert report.errors[1].startswith("line 5: unknown digest 'weekly'")
    assert report.errors[2].startswith("line 6: ANN@example.org appears twice")
    by_email = {s.email: s for s in list_subscribers(store)}
    assert by_email["ann@example.org"].digests == ("daily",)
    assert by_email["bob@example.org"].digests == ("culture", "daily")


def test_import_never_resubscribes_an_unsubscribed_address(store: Store) -> None:
    add_subscriber(store, "gone@example.org", "Gone", DIGESTS, SAMPLE_NOW)
    remove_subscriber(store, "gone@example.org", SAMPLE_NOW)
    report = import_csv(store, "email,name\ngone@example.org,Gone\n", DIGESTS, SAMPLE_NOW)
    assert report.skipped == 1
    found = find_subscriber(store, "gone@example.org")
    assert found is not None
    assert found.status == SubscriberStatus.UNSUBSCRIBED


def test_import_without_an_email_column_is_refused(store: Store) -> None:
    with pytest.raises(SubscriberError, match="header"):
        import_csv(store, "address,name\na@example.org,A\n", DIGESTS, SAMPLE_NOW)


def test_export_round_trips_through_import(store: Store) -> None:
    add_subscriber(store, "ann@example.org", 'Ann, "the" Editor', ("daily",), SAMPLE_NOW)
    add_subscriber(store, "zoe@example.org", "Zoë 佐藤", DIGESTS, SAMPLE_NOW)
    exported = "".join(export_csv(list_subscribers(store)))
    assert exported.splitlines()[0] == "email,name,digests,status,created_at,address_hash"
    remove_subscriber(store, "ann@example.org", SAMPLE_NOW)
    with store.transaction() as connection:
        from publisher.store.schema import subscribers, subscriptions

        connection.execute(subscriptions.delete())
        connection.execute(subscribers.delete())
    report = import_csv(store, exported, DIGESTS, SAMPLE_NOW)
    assert report.added == 2
    assert {(s.email, s.name, s.digests) for s in list_subscribers(store)} == {
        ("ann@example.org", 'Ann, "the" Editor', ("daily",)),
        ("zoe@example.org", "Zoë 佐藤", ("culture", "daily")),
    }


def test_tokens_are_unguessable_and_revoked_with_the_nonce() -> None:
    secret = b"s" * 32
    token = make_token(secret, "unsubscribe", 42, "nonce-1")
    claim = read_token(token)
    assert claim is not None
    assert claim.subscriber_id == 42
    assert len(token.rsplit(".", 1)[1]) >= 22  # at least 128 bits of MAC, base64
    assert token_is_valid(secret, "unsubscribe", token, "nonce-1")
    assert not token_is_valid(secret, "unsubscribe", token, "nonce-2")
    assert not token_is_valid(secret, "confirm", token, "nonce-1")
    assert not token_is_valid(b"t" * 32, "unsubscribe", token, "nonce-1")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not token_is_valid(secret, "unsubscribe", tampered, "nonce-1")
    assert read_token("garbage") is None


LEFT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED, SubscriberStatus.BOUNCED)


def left_as(store: Store, email: str, status: str) -> int:
    """A subscriber who left as `status` (unsubscribed, complained or bounced)."""
    subscriber, _ = add_subscriber(store, email, "Gone", DIGESTS, SAMPLE_NOW)
    with store.transaction() as connection:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber.id)
            .values(status=status, hard_bounces=3)
        )
    return subscriber.id


@pytest.mark.parametrize("status", LEFT)
def test_an_anonymous_sign_up_never_changes_a_left_status(store: Store, status: str) -> None:
    subscriber_id = left_as(store, "gone@example.org", status)
    sign_up = request_subscription(
        store, "gone@example.org", "Anyone", ("daily",), SAMPLE_NOW, timedelta(hours=1)
    )
    assert sign_up.send_confirmation  # the person may still come back by their own click
    assert sign_up.subscriber.status == status
    # An import after the sign-up is not the person's consent either.
    report = import_csv(store, "email,name\ngone@example.org,Gone\n", DIGESTS, SAMPLE_NOW)
    assert report.skipped == 1
    found = find_subscriber(store, "gone@example.org")
    assert found is not None
    assert (found.status, found.hard_bounces) == (status, 3)
    confirmed = confirm_subscriber(store, subscriber_id, SAMPLE_NOW)
    assert confirmed is not None
    assert (confirmed.status, confirmed.hard_bounces) == (SubscriberStatus.CONFIRMED, 0)
    assert confirmed.digests == ("daily",)


@pytest.mark.parametrize("status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED])
def test_add_refuses_to_resubscribe_who_left_unless_told_to(store: Store, status: str) -> None:
    left_as(store, "gone@example.org", status)
    with pytest.raises(SubscriberError, match=f"is {status}.*--resubscribe"):
        add_subscriber(store, "gone@example.org", "Gone", DIGESTS, SAMPLE_NOW)
    found = find_subscriber(store, "gone@example.org")
    assert found is not None
    assert (found.status, found.hard_bounces) == (status, 3)
    again, created = add_subscriber(
        store, "gone@example.org", "Gone", DIGESTS, SAMPLE_NOW, resubscribe=True
    )
    assert not created
    assert (again.status, again.hard_bounces) == (SubscriberStatus.CONFIRMED, 0)


def test_add_never_resubscribes_a_complaint_even_when_told_to(store: Store) -> None:
    left_as(store, "gone@example.org", SubscriberStatus.COMPLAINED)
    with pytest.raises(SubscriberError, match="spam"):
        add_subscriber(store, "gone@example.org", "", DIGESTS, SAMPLE_NOW, resubscribe=True)


LOCAL_CHARACTERS = [*"abcXYZ09.!#$%&'*+/=?^_`{|}~-\"@ (),:;<>[]\\", "é", "\u0301", "ß", "İ"]
DOMAINS = [
    "example.org",
    "EXAMPLE.ORG",
    "bücher.de",
    "xn--bcher-kva.de",
    "BÜCHER.de",
    "x",
    "[1.2.3.4]",
    "localhost",
    "a-b.co.uk",
    "ex_ample.org",
    "example.org.",
    "-a.org",
    "a.test",
    "a.invalid",
    "a" * 63 + ".org",
    "a" * 64 + ".org",
    ".".join(["a" * 60] * 4) + ".org",
    "exam ple.org",
    "\u0301example.org",
    "",
]


def outcome(check: object, text: str) -> object:
    try:
        return check(text)  # type: ignore[operator]
    except SubscriberError as error:
        return str(error)


def email_validator_alone(text: str) -> object:
    """What `check_address` gave before it had a quick way: email-validator on everything."""
    from email_validator import EmailNotValidError, validate_email

    from publisher.audience.subscribers import Address

    if "\r" in text or "\n" in text:
        raise SubscriberError(f"bad address {text!r}: contains a line break")
    try:
        valid = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise SubscriberError(f"bad address {text!r}: {error}") from None
    return Address(email=valid.normalized, key=valid.normalized.casefold())


@given(
    st.text(alphabet=st.sampled_from(LOCAL_CHARACTERS), max_size=70),
    st.one_of(st.sampled_from(DOMAINS), st.text(max_size=20)),
    st.sampled_from(["", " ", "\t"]),
)
@settings(max_examples=2000, deadline=None)
def test_the_quick_address_check_gives_what_email_validator_gives(
    local: str, domain: str, space: str
) -> None:
    text = f"{space}{local}@{domain}{space}"
    assert outcome(check_address, text) == outcome(email_validator_alone, text)


@pytest.mark.parametrize(
    "text",
    ["Postmaster@Example.org", "a" * 64 + "@example.org", "a" * 250 + "@example.org"],
)
def test_the_quick_address_check_leaves_the_rare_cases_to_email_validator(text: str) -> None:
    assert outcome(check_address, text) == outcome(email_validator_alone, text)
