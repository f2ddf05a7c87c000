"""The webhook payload parsers: any JSON in gives events or a refusal, never another error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.inbound.providers import (
    WebhookRefused,
    check_basic_auth,
    mailgun_events,
    postmark_events,
    sendgrid_events,
    ses_events,
    sns_message,
    verify_mailgun,
    verify_sendgrid,
)
from publisher.store.statuses import EventKind

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event",
                    "event-data",
                    "recipient",
                    "email",
                    "Email",
                    "RecordType",
                    "Type",
                    "severity",
                    "notificationType",
                    "bounce",
                    "complaint",
                    "bouncedRecipients",
                    "emailAddress",
                    "signature",
                    "mail",
                    "headers",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_payload_gives_events_or_a_refusal(payload: Any) -> None:
    refusals = []
    parsers = [postmark_events, mailgun_events, sendgrid_events]
    parsers.append(lambda value: ses_events("id", json.dumps(value)))
    for parse in parsers:
        try:
            parse(payload)
        except WebhookRefused as refused:
            refusals.append(refused.status)
    assert set(refusals) <= {400}


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_signed_looking_payload_is_refused_not_crashed(payload: Any) -> None:
    body = json.dumps(payload).encode()
    with pytest.raises(WebhookRefused):
        verify_mailgun(payload, "key", NOW, timedelta(minutes=10))
    with pytest.raises(WebhookRefused):
        sns_message(body, ["arn:aws:sns:us-east-1:1:t"])
    with pytest.raises(WebhookRefused):
        verify_sendgrid(body, "c2ln", "1", "a2V5", NOW, timedelta(minutes=10))


@given(st.text(max_size=40))
def test_any_authorization_header_is_checked_without_error(header: str) -> None:
    with pytest.raises(WebhookRefused):
        check_basic_auth(header, "user:a password nobody guesses")


def test_soft_and_hard_bounce_types_are_told_apart() -> None:
    assert [e.kind for e in postmark_events({"RecordType": "Bounce", "Type": "Transient"})] == [
        EventKind.SOFT_BOUNCE
    ]
    assert postmark_events({"RecordType": "Bounce", "Type": "AutoResponder"}) == []
    data = {"event": "failed", "severity": "temporary", "recipient": "a@example.org"}
    assert [e.kind for e in mailgun_events({"event-data": data})] == [EventKind.SOFT_BOUNCE]
    batch = [
        {"event": "bounce", "type": "blocked", "email": "a@example.org", "sg_event_id": "1"},
        {"event": "bounce", "type": "bounce", "email": "a@example.org", "sg_event_id": "2"},
        {"event": "spamreport", "email": "a@example.org", "sg_event_id": "3"},
        {"event": "delivered", "email": "a@example.org", "sg_event_id": "4"},
    ]
    assert [e.kind for e in sendgrid_events(batch)] == [
        EventKind.SOFT_BOUNCE,
        EventKind.HARD_BOUNCE,
        EventKind.COMPLAINT,
    ]
    transient = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "a@b.c"}]},
    }
    assert [e.kind for e in ses_events("id", json.dumps(transient))] == [EventKind.SOFT_BOUNCE]
