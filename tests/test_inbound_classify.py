from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.inbound.classify import classify_message
from publisher.mail.transport.returnpath import BOUNCE, make_return_token
from publisher.mail.transport.returnpath import UNSUBSCRIBE as UNSUBSCRIBE_TOKEN
from publisher.store.statuses import EventKind
from tests.inbound_mail import inbound_message

SECRET = b"a test secret of enough length"
RETURN = make_return_token(SECRET, BOUNCE, 41)
UNSUB = make_return_token(SECRET, UNSUBSCRIBE_TOKEN, 41)

BOUNCES = [
    ("postfix_dsn", EventKind.HARD_BOUNCE, "ann@example.net", "5.1.1", "User unknown in virtual"),
    ("postfix_delayed", EventKind.SOFT_BOUNCE, "carol@example.com", "4.2.2", "Mailbox full"),
    (
        "exim_bounce",
        EventKind.HARD_BOUNCE,
        "bob@example.com",
        "5.1.1",
        "Recipient address rejected",
    ),
    ("sendmail_dsn", EventKind.HARD_BOUNCE, "dave@example.org", "5.2.1", "Mailbox disabled"),
    ("exchange_dsn", EventKind.HARD_BOUNCE, "erin@contoso.example", "5.1.10", "RecipientNotFound"),
    ("gmail_bounce", EventKind.HARD_BOUNCE, "frank@gmail.example", "5.1.1", "does not exist"),
    ("yahoo_bounce", EventKind.HARD_BOUNCE, "grace@yahoo.example", "554", "Not a valid recipient"),
]


@pytest.mark.parametrize(("name", "kind", "recipient", "code", "diagnostic"), BOUNCES)
def test_bounces_from_each_mta_name_the_recipient_code_and_token(
    name: str, kind: str, recipient: str, code: str, diagnostic: str
) -> None:
    found = classify_message(inbound_message(name, RETURN))
    assert found.kind == kind
    (event,) = found.events
    assert (event.kind, event.recipient, event.code, event.token) == (kind, recipient, code, RETURN)
    assert diagnostic in event.diagnostic


@pytest.mark.parametrize(("name", "kind", "recipient", "code", "diagnostic"), BOUNCES)
def test_bounces_without_a_return_path_token_still_name_the_recipient(
    name: str, kind: str, recipient: str, code: str, diagnostic: str
) -> None:
    (event,) = classify_message(inbound_message(name)).events
    assert (event.kind, event.recipient, event.token) == (kind, recipient, None)


def test_abuse_report_is_a_complaint_with_the_reported_recipient_and_token() -> None:
    found = classify_message(inbound_message("arf_report", RETURN, UNSUB))
    assert found.kind == EventKind.COMPLAINT
    (event,) = found.events
    assert (event.recipient, event.token, event.code) == ("heidi@example.net", RETURN, "abuse")


def test_abuse_report_without_tokens_names_the_recipient() -> None:
    (event,) = classify_message(inbound_message("arf_report")).events
    assert (event.kind, event.recipient, event.token) == (
        EventKind.COMPLAINT,
        "heidi@example.net",
        None,
    )


def test_abuse_report_that_is_not_a_complaint_is_unknown() -> None:
    raw = inbound_message("arf_report", RETURN).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    assert classify_message(raw).kind == EventKind.UNKNOWN


@pytest.mark.parametrize("name", ["unsubscribe", "unsubscribe_by_subject"])
def test_mailto_unsubscribe_carries_its_token(name: str) -> None:
    found = classify_message(inbound_message(name, unsubscribe_token=UNSUB))
    assert found.kind == EventKind.UNSUBSCRIBE
    (event,) = found.events
    assert (event.token, event.recipient) == (UNSUB, None)


def test_unsubscribe_mail_without_a_token_is_a_request_from_its_sender() -> None:
    found = classify_message(inbound_message("unsubscribe_by_subject"))
    [event] = found.events
    assert (event.kind, event.token, event.recipient) == (
        EventKind.UNSUBSCRIBE,
        None,
        "kim@example.com",
    )


def test_a_mail_saying_more_than_unsubscribe_is_not_guessed() -> None:
    raw = inbound_message("unsubscribe_by_subject").replace(
        b"Subject: unsubscribe ", b"Subject: Re: please do not unsubscribe me"
    )
    assert classify_message(raw).kind == EventKind.UNKNOWN


@pytest.mark.parametrize("name", ["vacation", "outlook_auto_reply"])
def test_auto_replies_are_ignored(name: str) -> None:
    found = classify_message(inbound_message(name, RETURN))
    assert (found.kind, found.events) == (EventKind.AUTO_REPLY, ())


def test_a_human_reply_is_unknown() -> None:
    found = classify_message(inbound_message("human_reply"))
    assert (found.kind, found.events) == (EventKind.UNKNOWN, ())


def test_the_same_message_gives_the_same_event_keys() -> None:
    first = classify_message(inbound_message("postfix_dsn", RETURN))
    again = classify_message(inbound_message("postfix_dsn", RETURN).replace(b"\n", b"\r\n"))
    assert [e.key for e in first.events] == [e.key for e in again.events]
    other = classify_message(inbound_message("exim_bounce", RETURN))
    assert first.events[0].key != other.events[0].key


def test_success_notification_reports_nothing() -> None:
    raw = inbound_message("postfix_dsn", RETURN).replace(b"Action: failed", b"Action: delivered")
    raw = raw.replace(b"Status: 5.1.1", b"Status: 2.0.0")
    assert classify_message(raw).kind == EventKind.UNKNOWN


def test_a_bounce_naming_two_recipients_ignores_the_single_token() -> None:
    raw = inbound_message("sendmail_dsn", RETURN).replace(
        b"Last-Attempt-Date: Thu, 26 Nov 2026 07:32:00 GMT\n",
        b"Last-Attempt-Date: Thu, 26 Nov 2026 07:32:00 GMT\n\n"
        b"Final-Recipient: RFC822; eve@example.org\nAction: failed\nStatus: 5.1.1\n",
    )
    events = classify_message(raw).events
    assert [(e.recipient, e.token) for e in events] == [
        ("dave@example.org", None),
        ("eve@example.org", None),
    ]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_classified_without_error(raw: bytes) -> None:
    assert classify_message(raw).kind in (
        EventKind.UNKNOWN,
        EventKind.AUTO_REPLY,
        EventKind.HARD_BOUNCE,
        EventKind.SOFT_BOUNCE,
        EventKind.COMPLAINT,
        EventKind.UNSUBSCRIBE,
    )


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["postfix_dsn", "exim_bounce", "arf_report"]))
def test_any_text_added_to_a_report_is_classified_without_error(text: str, name: str) -> None:
    raw = inbound_message(name, RETURN) + text.encode("utf-8", "surrogatepass")
    classify_message(raw)


def mailer_bounce_with(content_type: bytes, body: bytes = b"User unknown\r\n") -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.example.net\r\n"
        b"To: bounces@gazette.example.org\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <hostile@mx.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: " + content_type + b"\r\n\r\n" + body
    )


def nested_multiparts(depth: int) -> bytes:
    body = b"550 5.1.1 <ann@example.net>: User unknown\r\n"
    content_type = b"text/plain"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (
            b"--"
            + boundary
            + b"\r\nContent-Type: "
            + content_type
            + b"\r\n\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
        content_type = b'multipart/mixed; boundary="' + boundary + b'"'
    return mailer_bounce_with(content_type, body)


@pytest.mark.parametrize(
    "raw",
    [
        mailer_bounce_with(b'text/plain; charset="undefined"'),
        mailer_bounce_with(b'text/plain; charset="utf\x00-8"'),
        mailer_bounce_with(b'text/plain; charset="utf-8\\"'),
        nested_multiparts(1000),
    ],
    ids=["undefined charset", "NUL in charset", "escaped quote", "1000 nested multiparts"],
)
def test_a_hostile_message_is_classified_never_raised(raw: bytes) -> None:
    found = classify_message(raw)
    assert found.kind in tuple(EventKind)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_are_classified_never_raised(raw: bytes) -> None:
    assert classify_message(raw).kind in tuple(EventKind)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: MAILER-DAEMON@x\r\n",
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
                b"Content-Type: message/delivery-status\r\n",
                b'Content-Type: text/plain; charset="\x00"\r\n',
                b"Content-Type: message/feedback-report\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n",
                b"\r\n",
                b"--b\r\n",
                b"--b--\r\n",
                b"Action: failed\r\nStatus: 5.1.1\r\nFinal-Recipient: rfc822; a@b\r\n",
                b"Original-Rcpt-To: <x@y>\r\n",
                b"Feedback-Type: abuse\r\n",
                b"=?utf-8?b?////?=\r\n",
                b"\xff\xfe\x00\r\n",
            ]
        ),
        max_size=40,
    )
)
def test_mail_shaped_noise_is_classified_never_raised(lines: list[bytes]) -> None:
    assert classify_message(b"".join(lines)).kind in tuple(EventKind)


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (b"failed (Bad destination mailbox address)", b"5.1.1"),
        (b"failure", b"5.1.1"),
        (b"Failed", b"553 sorry, that domain isn't in my list of allowed rcpthosts"),
    ],
)
def test_a_dsn_with_a_commented_or_odd_action_or_a_basic_status_is_a_hard_bounce(
    action: bytes, status: bytes
) -> None:
    raw = inbound_message("postfix_dsn", RETURN).replace(b"Action: failed", b"Action: " + action)
    raw = raw.replace(b"Status: 5.1.1", b"Status: " + status)
    [event] = classify_message(raw).events
    assert (event.kind, event.recipient) == (EventKind.HARD_BOUNCE, "ann@example.net")
    assert event.code.startswith("5")


@pytest.mark.parametrize(
    "sender",
    [b"postmaster@relay.example.net", b"Exim <exim@relay.example.net>", b"<>"],
)
def test_a_bounce_to_our_bounce_address_is_read_whatever_its_sender(sender: bytes) -> None:
    raw = inbound_message("exim_bounce", RETURN).replace(
        b"From: Mail Delivery System <Mailer-Daemon@relay.gazette.example.org>",
        b"From: " + sender,
    )
    found = classify_message(raw)
    assert found.kind == EventKind.HARD_BOUNCE
    assert [event.token for event in found.events] == [RETURN]
