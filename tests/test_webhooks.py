"""ESP webhooks: each provider's documented sample events, signed with keys made here."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from publisher.audience.subscribers import add_subscriber, find_subscriber
from publisher.store.database import Store
from publisher.store.statuses import SubscriberStatus
from publisher.web.app import create_app
from publisher.web.webhooks import SnsCertificates
from tests.conftest import MovableClock, Site

SAMPLES = Path(__file__).resolve().parent / "webhooks"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
POSTMARK_AUTH = "postmark-hook:a-long-webhook-password"
MAILGUN_KEY = "key-" + "3ax6xnjp29jd6fds4gc373sgvjxteol0"
READERS = (
    "jane@example.com",
    "richard@example.com",
    "john@example.com",
    "alice@example.com",
    "example@test.com",
    "other@test.com",
)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text())


PrivateKeys = tuple[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]


def new_private_keys() -> PrivateKeys:
    """An RSA key (for SNS) and an ECDSA key (for SendGrid), new."""
    signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return signing, ec.generate_private_key(ec.SECP256R1())


# Made once per test process: a 2048-bit RSA key takes ~70 ms to make.
shared_private_keys = functools.cache(new_private_keys)


class Keys:
    """Keys for this test run: an SNS signing certificate and a SendGrid ECDSA pair (the
    process's private keys unless others are given)."""

    def __init__(self, clock: MovableClock, private: PrivateKeys | None = None) -> None:
        self.rsa, self.ecdsa = private or shared_private_keys()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.rsa.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(clock() - timedelta(days=1))
            .not_valid_after(clock() + timedelta(days=30))
            .sign(self.rsa, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
        self.sendgrid_public = base64.b64encode(
            self.ecdsa.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode()


class Fetches:
    """Stands in for the network: records every URL asked for, answers only what it was given."""

    def __init__(self, answers: dict[str, bytes] | None = None) -> None:
        self.answers = answers or {}
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if url not in self.answers:
            raise AssertionError(f"an outbound request to {url}")
        return self.answers[url]


@pytest.fixture
def keys(clock: MovableClock) -> Keys:
    return Keys(clock)


@pytest.fixture
def fetches() -> Fetches:
    return Fetches()


@pytest.fixture
def client(
    site: Site, store: Store, clock: MovableClock, keys: Keys, fetches: Fetches
) -> Iterator[TestClient]:
    site.config_path.write_text(
        site.config_path.read_text() + f'\n[webhooks]\nses_topics = ["{TOPIC}"]\n'
    )
    for address in READERS:
        add_subscriber(store, address, "", ("daily",), clock())
    environ = {
        "PUBLISHER_SECRET": "a-test-secret-of-enough-length",
        "PUBLISHER_STORE_URL": store.engine.url.render_as_string(hide_password=False),
        "PUBLISHER_POSTMARK_WEBHOOK_AUTH": POSTMARK_AUTH,
        "PUBLISHER_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
        "PUBLISHER_SENDGRID_WEBHOOK_KEY": keys.sendgrid_public,
    }
    from publisher.config import load_config

    config = load_config(site.config_path, environ)
    certificates = SnsCertificates(fetches)
    certificates.add(CERT_URL, keys.certificate)
    with TestClient(create_app(config, environ, clock, certificates)) as test_client:
        yield test_client


def status(store: Store, email: str) -> tuple[str, int]:
    found = find_subscriber(store, email)
    assert found is not None
    return found.status, found.hard_bounces


# Amazon SES through SNS ----------------------------------------------------------------------


def sns_signed_text(message: dict[str, str]) -> bytes:
    """The canonical text, as the SNS documentation lists it for each message type."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()


def sns_notification(keys: Keys, ses: Any, version: str = "1", **changes: str) -> dict[str, str]:
    message = sample("sns_notification") | {
        "TopicArn": TOPIC,
        "Message": json.dumps(ses),
        "MessageId": f"{secrets.token_hex(4)}-fdea-4c2c-8f9d-bdfb0c7bf324",
        "SigningCertURL": CERT_URL,
        "SignatureVersion": version,
    }
    del message["Subject"]
    message |= changes
    return sign_sns(keys, message)


def sign_sns(keys: Keys, message: dict[str, str]) -> dict[str, str]:
    algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()
    signature = keys.rsa.sign(sns_signed_text(message), padding.PKCS1v15(), algorithm)
    return message | {"Signature": base64.b64encode(signature).decode()}


def post_sns(client: TestClient, message: dict[str, str]) -> Any:
    headers = {"x-amz-sns-message-type": message["Type"], "content-type": "text/plain"}
    return client.post("/webhooks/ses", content=json.dumps(message), headers=headers)


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounce_and_complaint_through_sns_are_applied(
    client: TestClient, store: Store, keys: Keys, version: str
) -> None:
    bounce = post_sns(client, sns_notification(keys, sample("ses_bounce"), version))
    assert (bounce.status_code, bounce.json()) == (
        200,
        {"applied": 1, "duplicates": 0, "ignored": 0},
    )
    complaint = post_sns(client, sns_notification(keys, sample("ses_complaint"), version))
    assert complaint.json()["applied"] == 1
    assert status(store, "jane@example.com") == (SubscriberStatus.CONFIRMED, 1)
    assert status(store, "richard@example.com") == (SubscriberStatus.COMPLAINED, 0)


def test_a_replayed_sns_notification_changes_nothing(
    client: TestClient, store: Store, keys: Keys
) -> None:
    message = sns_notification(keys, sample("ses_bounce"))
    assert post_sns(client, message).json()["applied"] == 1
    again = post_sns(client, message)
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)
    # Delivered again under a new SNS message id, the SES report is still the same one.
    other = post_sns(client, sns_notification(keys, sample("ses_bounce")))
    assert other.json()["duplicates"] == 1
    assert status(store, "jane@example.com") == (SubscriberStatus.CONFIRMED, 1)


def test_a_tampered_or_unsigned_sns_message_is_refused(
    client: TestClient, store: Store, keys: Keys
) -> None:
    message = sns_notification(keys, sample("ses_bounce"))
    tampered = message | {"Message": message["Message"].replace("jane@", "richard@")}
    assert post_sns(client, tampered).status_code == 403
    unsigned = {k: v for k, v in message.items() if k != "Signature"}
    assert post_sns(client, unsigned).status_code == 401
    assert status(store, "jane@example.com") == (SubscriberStatus.CONFIRMED, 0)
    assert status(store, "richard@example.com") == (SubscriberStatus.CONFIRMED, 0)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/SimpleNotificationService-0123456789abcdef.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
        "https://sns.s3.amazonaws.com/cert.pem",  # an S3 bucket named sns: anyone's
        "https://sns.evil-bucket.amazonaws.com/cert.pem",
        "https://sns.amazonaws.com.cn/cert.pem",
    ],
)
def test_a_certificate_url_outside_the_sns_hosts_is_refused_unfetched(
    client: TestClient, keys: Keys, fetches: Fetches, url: str
) -> None:
    message = sns_notification(keys, sample("ses_bounce"), SigningCertURL=url)
    response = post_sns(client, message)
    assert response.status_code == 403
    assert "SNS host" in response.json()["error"]
    assert fetches.urls == []


def test_a_topic_not_configured_is_refused(client: TestClient, keys: Keys) -> None:
    message = sns_notification(
        keys, sample("ses_bounce"), TopicArn="arn:aws:sns:us-east-1:999999999999:other"
    )
    assert post_sns(client, message).status_code == 403


def test_subscription_confirmation_visits_the_subscribe_url(
    client: TestClient, keys: Keys, fetches: Fetches
) -> None:
    message = sample("sns_subscription_confirmation")
    subscribe_url = (
        message["SubscribeURL"]
        .replace("us-west-2", "us-east-1")
        .replace("123456789012:MyTopic", "123456789012:ses-bounces")
    )
    message |= {"TopicArn": TOPIC, "SigningCertURL": CERT_URL, "SubscribeURL": subscribe_url}
    fetches.answers[subscribe_url] = b"<ConfirmSubscriptionResponse/>"
    response = post_sns(client, sign_sns(keys, message))
    assert response.status_code == 200
    assert fetches.urls == [subscribe_url]


def test_the_signing_certificate_is_fetched_once_then_cached(
    site: Site, store: Store, clock: MovableClock, keys: Keys
) -> None:
    from publisher.config import load_config

    site.config_path.write_text(
        site.config_path.read_text() + f'\n[webhooks]\nses_topics = ["{TOPIC}"]\n'
    )
    environ = {
        "PUBLISHER_SECRET": "a-test-secret-of-enough-length",
        "PUBLISHER_STORE_URL": store.engine.url.render_as_string(hide_password=False),
    }
    add_subscriber(store, "jane@example.com", "", ("daily",), clock())
    fetches = Fetches({CERT_URL: keys.certificate})
    app = create_app(
        load_config(site.config_path, environ), environ, clock, SnsCertificates(fetches)
    )
    with TestClient(app) as test_client:
        for _ in range(2):
            assert (
                post_sns(test_client, sns_notification(keys, sample("ses_bounce"))).status_code
                == 200
            )
    assert fetches.urls == [CERT_URL]


def test_the_china_and_govcloud_sns_hosts_are_allowed() -> None:
    from publisher.inbound.providers import check_sns_certificate_url

    for host in ("sns.cn-north-1.amazonaws.com.cn", "sns.us-gov-west-1.amazonaws.com"):
        check_sns_certificate_url(f"https://{host}/SimpleNotificationService-0a1b.pem")


def test_a_certificate_that_cannot_be_fetched_is_not_asked_for_again_at_once() -> None:
    from publisher.inbound.providers import WebhookRefused

    asked: list[str] = []

    def unreachable(url: str) -> bytes:
        asked.append(url)
        raise OSError("connection refused")

    certificates = SnsCertificates(unreachable)
    for _ in range(3):
        with pytest.raises(WebhookRefused) as refused:
            certificates.get(CERT_URL)
        assert refused.value.status == 503
    assert asked == [CERT_URL]


HOSTILE_BODIES = [
    b"[" * 1000,
    b"{" * 100_000,
    b"\xff\xfe",
    rb'"\ud800"',  # a lone surrogate, escaped in JSON
    b"1e999999",
    b"[]",
    b"null",
]


@pytest.mark.parametrize("provider", ["ses", "postmark", "mailgun", "sendgrid"])
@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_a_hostile_body_is_never_a_5xx(client: TestClient, provider: str, body: bytes) -> None:
    response = client.post(f"/webhooks/{provider}", content=body, headers=basic(POSTMARK_AUTH))
    # Postmark's is authenticated (basic auth): a JSON `[]` from it is 200 with nothing in it.
    assert response.status_code < 500, response.text
    if provider != "postmark" or body.startswith((b"[" * 1000, b"{" * 1000)):
        assert response.status_code >= 400


def test_a_non_ascii_mailgun_signature_is_refused_not_a_500(
    client: TestClient, clock: MovableClock
) -> None:
    payload = mailgun("mailgun_failed", clock, signature="\u00e9" * 64)
    assert client.post("/webhooks/mailgun", json=payload).status_code == 403


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(provider=st.sampled_from(["ses", "postmark", "mailgun", "sendgrid"]), body=st.binary())
def test_any_webhook_body_is_answered_without_a_5xx(
    client: TestClient, provider: str, body: bytes
) -> None:
    response = client.post(f"/webhooks/{provider}", content=body, headers=basic(POSTMARK_AUTH))
    assert response.status_code < 500


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
POSTMARK_KEYS = ["RecordType", "Type", "TypeCode", "Email", "MessageID", "ID", "Details"]
POSTMARK_LIKE = st.dictionaries(st.sampled_from(POSTMARK_KEYS), JSON_VALUES, max_size=7)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(POSTMARK_LIKE, st.lists(POSTMARK_LIKE, max_size=3), JSON_VALUES))
def test_any_json_an_authenticated_postmark_sends_is_answered_without_a_5xx(
    client: TestClient, body: Any
) -> None:
    # Past the credentials check, the body reaches the event parser: JSON of any shape.
    response = client.post("/webhooks/postmark", json=body, headers=basic(POSTMARK_AUTH))
    assert response.status_code < 500, (body, response.text)


# Postmark ------------------------------------------------------------------------------------


def basic(credentials: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def test_postmark_bounce_and_complaint_with_basic_auth(client: TestClient, store: Store) -> None:
    bounce = client.post(
        "/webhooks/postmark", json=sample("postmark_bounce"), headers=basic(POSTMARK_AUTH)
    )
    assert bounce.json() == {"applied": 1, "duplicates": 0, "ignored": 0}
    assert status(store, "john@example.com") == (SubscriberStatus.CONFIRMED, 1)
    again = client.post(
        "/webhooks/postmark", json=sample("postmark_bounce"), headers=basic(POSTMARK_AUTH)
    )
    assert again.json()["duplicates"] == 1
    complaint = client.post(
        "/webhooks/postmark", json=sample("postmark_spam_complaint"), headers=basic(POSTMARK_AUTH)
    )
    assert complaint.json()["applied"] == 1
    assert status(store, "john@example.com") == (SubscriberStatus.COMPLAINED, 1)


def test_postmark_without_or_with_wrong_credentials_is_refused(
    client: TestClient, store: Store
) -> None:
    missing = client.post("/webhooks/postmark", json=sample("postmark_bounce"))
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Basic")
    wrong = client.post(
        "/webhooks/postmark", json=sample("postmark_bounce"), headers=basic("postmark-hook:guess")
    )
    assert wrong.status_code == 403
    assert status(store, "john@example.com") == (SubscriberStatus.CONFIRMED, 0)


def test_a_body_that_is_not_json_is_a_bad_request(client: TestClient) -> None:
    response = client.post("/webhooks/postmark", content=b"{not json", headers=basic(POSTMARK_AUTH))
    assert response.status_code == 400


# Mailgun -------------------------------------------------------------------------------------


def mailgun(name: str, clock: MovableClock, key: str = MAILGUN_KEY, **changes: str) -> Any:
    payload = sample(name)
    timestamp = str(int(clock().timestamp()))
    token = secrets.token_hex(25)
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": timestamp, "token": token, "signature": digest} | changes
    return payload


def test_mailgun_failure_and_complaint_are_applied(
    client: TestClient, store: Store, clock: MovableClock
) -> None:
    failed = client.post("/webhooks/mailgun", json=mailgun("mailgun_failed", clock))
    assert failed.json()["applied"] == 1
    assert status(store, "alice@example.com") == (SubscriberStatus.CONFIRMED, 1)
    complained = client.post("/webhooks/mailgun", json=mailgun("mailgun_complained", clock))
    assert complained.json()["applied"] == 1
    assert status(store, "alice@example.com") == (SubscriberStatus.COMPLAINED, 1)


def test_mailgun_bad_signature_replay_and_old_timestamp_are_refused(
    client: TestClient, store: Store, clock: MovableClock
) -> None:
    forged = mailgun("mailgun_failed", clock, key="key-not-the-signing-key")
    assert client.post("/webhooks/mailgun", json=forged).status_code == 403
    # The documentation's own sample signature was made with another key.
    assert client.post("/webhooks/mailgun", json=sample("mailgun_failed")).status_code == 403
    payload = mailgun("mailgun_failed", clock)
    assert client.post("/webhooks/mailgun", json=payload).status_code == 200
    replay = client.post("/webhooks/mailgun", json=payload)
    assert replay.status_code == 403
    assert "replay" in replay.json()["error"]
    clock.advance(minutes=11)
    stale = mailgun("mailgun_failed", clock)
    clock.advance(minutes=11)
    assert client.post("/webhooks/mailgun", json=stale).status_code == 403
    unsigned = sample("mailgun_failed")
    del unsigned["signature"]
    assert client.post("/webhooks/mailgun", json=unsigned).status_code == 401
    assert status(store, "alice@example.com") == (SubscriberStatus.CONFIRMED, 1)


# SendGrid ------------------------------------------------------------------------------------


def sendgrid_headers(keys: Keys, body: bytes, timestamp: str) -> dict[str, str]:
    signature = keys.ecdsa.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
        "x-twilio-email-event-webhook-timestamp": timestamp,
        "content-type": "application/json",
    }


def test_sendgrid_signed_batch_is_applied_once(
    client: TestClient, store: Store, clock: MovableClock, keys: Keys
) -> None:
    body = json.dumps(sample("sendgrid_events")).encode()
    headers = sendgrid_headers(keys, body, str(int(clock().timestamp())))
    response = client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert response.json() == {"applied": 2, "duplicates": 0, "ignored": 0}
    assert status(store, "example@test.com") == (SubscriberStatus.CONFIRMED, 1)
    assert status(store, "other@test.com") == (SubscriberStatus.COMPLAINED, 0)
    again = client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert again.json() == {"applied": 0, "duplicates": 2, "ignored": 0}
    assert status(store, "example@test.com") == (SubscriberStatus.CONFIRMED, 1)


def test_sendgrid_bad_missing_or_old_signatures_are_refused(
    client: TestClient, store: Store, clock: MovableClock, keys: Keys
) -> None:
    body = json.dumps(sample("sendgrid_events")).encode()
    now = str(int(clock().timestamp()))
    headers = sendgrid_headers(keys, body, now)
    tampered = body.replace(b"example@test.com", b"other@test.com")
    assert client.post("/webhooks/sendgrid", content=tampered, headers=headers).status_code == 403
    other_key = Keys(clock, new_private_keys())
    forged = sendgrid_headers(other_key, body, now)
    assert client.post("/webhooks/sendgrid", content=body, headers=forged).status_code == 403
    assert client.post("/webhooks/sendgrid", content=body).status_code == 401
    old = sendgrid_headers(keys, body, str(int(clock().timestamp()) - 3600))
    assert client.post("/webhooks/sendgrid", content=body, headers=old).status_code == 403
    assert status(store, "example@test.com") == (SubscriberStatus.CONFIRMED, 0)


def test_a_provider_without_a_key_or_unknown_is_not_found(
    site: Site, store: Store, clock: MovableClock
) -> None:
    from publisher.config import load_config

    environ = {
        "PUBLISHER_SECRET": "a-test-secret-of-enough-length",
        "PUBLISHER_STORE_URL": store.engine.url.render_as_string(hide_password=False),
    }
    app = create_app(load_config(site.config_path, environ), environ, clock)
    with TestClient(app) as test_client:
        for provider in ("ses", "postmark", "mailgun", "sendgrid", "sparkpost"):
            assert test_client.post(f"/webhooks/{provider}", json={}).status_code == 404


def test_hard_bounces_by_webhook_reach_the_bounce_limit(
    client: TestClient, store: Store, keys: Keys
) -> None:
    for number in range(3):
        ses = sample("ses_bounce")
        ses["bounce"]["feedbackId"] = f"feedback-{number}"
        post_sns(client, sns_notification(keys, ses))
    assert status(store, "jane@example.com") == (SubscriberStatus.BOUNCED, 3)


def test_a_store_failure_is_503_so_the_provider_retries(client: TestClient, store: Store) -> None:
    import sqlalchemy as sa

    with store.transaction() as connection:
        connection.execute(sa.text("DROP TABLE events"))
    response = client.post(
        "/webhooks/postmark", json=sample("postmark_bounce"), headers=basic(POSTMARK_AUTH)
    )
    assert response.status_code == 503
    assert status(store, "john@example.com") == (SubscriberStatus.CONFIRMED, 0)
