"""ESP webhooks, core: check a request's signature, turn its payload into inbound events.

Pure functions: keys, certificates and the time come in as arguments. A request that fails a
check raises WebhookRefused with the HTTP status to answer (401 when the credentials are
missing, 403 when they are wrong, 400 when the payload is not the provider's format).

- Amazon SES through SNS: RSA signature (SignatureVersion 1: SHA1, 2: SHA256) over the
  message's canonical fields, by the certificate at SigningCertURL, which must be an https
  URL on an `sns.<region>.amazonaws.com` host.
- Postmark: HTTP basic auth, the credentials set in the webhook's URL.
- Mailgun: HMAC-SHA256 of timestamp + token with the webhook signing key.
- SendGrid: ECDSA P-256 / SHA-256 signature of timestamp + body by SendGrid's public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from publisher.errors import PublisherError
from publisher.inbound.events import InboundEvent
from publisher.mail.transport.returnpath import tokens_in
from publisher.store.events import clean_diagnostic, event_key
from publisher.store.statuses import EventKind

# SNS in a region (`sns.us-east-1.amazonaws.com`, GovCloud's `sns.us-gov-west-1...`) or in the
# China partition (`sns.cn-north-1.amazonaws.com.cn`); never another amazonaws.com name, such
# as an S3 bucket called `sns` (`sns.s3.amazonaws.com`), which anyone can fill.
SNS_HOST = re.compile(
    r"sns\.[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}\.amazonaws\.com"
    r"|sns\.cn-[a-z]+-[0-9]{1,2}\.amazonaws\.com\.cn"
)
SNS_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SNS_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress"})
POSTMARK_SOFT = frozenset({"SoftBounce", "Transient", "DnsError", "Blocked"})


class WebhookRefused(PublisherError):
    """A webhook request that is not accepted; `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def parse_json(body: bytes) -> Any:
    """The JSON payload of a request; 400 if it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: `[` * 1000
        raise WebhookRefused(400, "the body is not JSON") from None


# Amazon SES through SNS -----------------------------------------------------------------------


def check_sns_certificate_url(url: str) -> None:
    """Refuse a signing certificate URL that is not https on an SNS host (403)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused(403, "the signing certificate URL is malformed") from None
    if (
        parts.scheme != "https"
        or parts.username is not None
        or port not in (None, 443)
        or not SNS_HOST.fullmatch(parts.hostname or "")
        or not parts.path.endswith(".pem")
    ):
        raise WebhookRefused(403, f"signing certificate URL {url!r} is not on an SNS host")


def check_sns_url(url: str) -> None:
    """Refuse a subscription URL that is not https on an SNS host (403)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not SNS_HOST.fullmatch(parts.hostname or ""):
        raise WebhookRefused(403, f"subscription URL {url!r} is not on an SNS host")


def sns_message(body: bytes, topics: Sequence[str]) -> dict[str, str]:
    """An SNS message's fields, its topic one of `topics` and its certificate URL on SNS."""
    message = parse_json(body)
    if not isinstance(message, dict) or not all(
        isinstance(message.get(name), str) for name in ("Type", "MessageId", "TopicArn")
    ):
        raise WebhookRefused(400, "not an SNS message")
    if not isinstance(message.get("Signature"), str) or not message.get("SigningCertURL"):
        raise WebhookRefused(401, "the SNS message is not signed")
    if message["TopicArn"] not in topics:
        raise WebhookRefused(403, f"topic {message['TopicArn']!r} is not in [webhooks] ses_topics")
    check_sns_certificate_url(str(message["SigningCertURL"]))
    return {name: str(value) for name, value in message.items() if isinstance(value, str)}


def sns_string_to_sign(message: Mapping[str, str]) -> bytes:
    """The canonical text an SNS signature covers: `name\\nvalue\\n` for each signed field."""
    notification = message.get("Type") == "Notification"
    names = SNS_NOTIFICATION_FIELDS if notification else SNS_CONFIRMATION_FIELDS
    return "".join(f"{name}\n{message[name]}\n" for name in names if name in message).encode(
        "utf-8"
    )


def verify_sns_signature(message: Mapping[str, str], certificate_pem: bytes, now: datetime) -> None:
    """Refuse (403) an SNS message whose signature the certificate does not verify."""
    algorithm: hashes.HashAlgorithm
    if message.get("SignatureVersion") == "1":
        algorithm = hashes.SHA1()  # noqa: S303 (SNS signature version 1 is SHA1withRSA)
    elif message.get("SignatureVersion") == "2":
        algorithm = hashes.SHA256()
    else:
        raise WebhookRefused(403, "unknown SNS SignatureVersion")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        signature = base64.b64decode(message["Signature"], validate=True)
    except (ValueError, binascii.Error):
        raise WebhookRefused(403, "the SNS signature or certificate is malformed") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise WebhookRefused(403, "the SNS signing certificate has expired")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused(403, "the SNS signing certificate has no RSA key")
    try:
        key.verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise WebhookRefused(403, "the SNS signature does not verify") from None


def ses_events(sns_message_id: str, text: str) -> list[InboundEvent]:
    """The events in an SES notification (the SNS message's `Message`, itself JSON)."""
    notification = parse_json(text.encode("utf-8"))
    if not isinstance(notification, dict):
        raise WebhookRefused(400, "the SES notification is not a JSON object")
    kind = notification.get("notificationType") or notification.get("eventType")
    token = _ses_token(notification.get("mail"))
    if kind == "Bounce":
        bounce = _object(notification.get("bounce"))
        hard = bounce.get("bounceType") == "Permanent"
        report = str(bounce.get("feedbackId") or sns_message_id)
        recipients = _objects(bounce.get("bouncedRecipients"))
        return [
            InboundEvent(
                kind=EventKind.HARD_BOUNCE if hard else EventKind.SOFT_BOUNCE,
                key=event_key("ses", report, str(recipient.get("emailAddress", ""))),
                recipient=_address(recipient.get("emailAddress")),
                token=token if len(recipients) == 1 else None,
                code=str(recipient.get("status") or ""),
                diagnostic=clean_diagnostic(
                    str(recipient.get("diagnosticCode") or bounce.get("bounceSubType") or "")
                ),
                source="ses",
            )
            for recipient in recipients
        ]
    if kind == "Complaint":
        complaint = _object(notification.get("complaint"))
        report = str(complaint.get("feedbackId") or sns_message_id)
        recipients = _objects(complaint.get("complainedRecipients"))
        feedback = str(complaint.get("complaintFeedbackType") or "abuse")
        return [
            InboundEvent(
                kind=EventKind.COMPLAINT,
                key=event_key("ses", report, str(recipient.get("emailAddress", ""))),
                recipient=_address(recipient.get("emailAddress")),
                token=token if len(recipients) == 1 else None,
                code=feedback,
                diagnostic=clean_diagnostic(f"{feedback} complaint reported through SES"),
                source="ses",
            )
            for recipient in recipients
        ]
    return []


def _ses_token(mail: object) -> str | None:
    """A token in the original message's List-Unsubscribe, when SES sent its headers."""
    for header in _objects(_object(mail).get("headers")):
        if str(header.get("name", "")).lower() == "list-unsubscribe":
            found = tokens_in(str(header.get("value", "")))
            return found[0] if len(found) == 1 else None
    return None


# Postmark -------------------------------------------------------------------------------------


def check_basic_auth(authorization: str | None, expected: str) -> None:
    """Refuse a request without (401) or with wrong (403) basic auth `user:password`."""
    if not authorization or not authorization.lower().startswith("basic "):
        raise WebhookRefused(401, "basic auth credentials are required")
    try:
        given = base64.b64decode(authorization[6:].strip(), validate=True)
    except (ValueError, binascii.Error):
        raise WebhookRefused(403, "the basic auth credentials are malformed") from None
    if not hmac.compare_digest(given, expected.encode("utf-8")):
        raise WebhookRefused(403, "the basic auth credentials are wrong")


def postmark_events(payload: object) -> list[InboundEvent]:
    """The event in a Postmark bounce or spam complaint webhook (other records: none)."""
    record = _object(payload)
    record_type, bounce_type = record.get("RecordType"), str(record.get("Type", ""))
    if record_type == "SpamComplaint" or bounce_type == "SpamComplaint":
        kind = EventKind.COMPLAINT
    elif record_type == "Bounce" and bounce_type in POSTMARK_HARD:
        kind = EventKind.HARD_BOUNCE
    elif record_type == "Bounce" and bounce_type in POSTMARK_SOFT:
        kind = EventKind.SOFT_BOUNCE
    else:
        return []
    email = _address(record.get("Email"))
    report = f"{record_type}:{record.get('ID', '')}:{record.get('MessageID', '')}"
    return [
        InboundEvent(
            kind=kind,
            key=event_key("postmark", report, email),
            recipient=email,
            code=bounce_type[:32],
            diagnostic=clean_diagnostic(
                str(record.get("Details") or record.get("Description") or "")
            ),
            source="postmark",
        )
    ]


# Mailgun --------------------------------------------------------------------------------------


def verify_mailgun(payload: object, signing_key: str, now: datetime, max_age: timedelta) -> str:
    """Check a Mailgun payload's signature and age; returns its token (for replay checks)."""
    signature = _object(_object(payload).get("signature"))
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    given = str(signature.get("signature", ""))
    if not (timestamp and token and given):
        raise WebhookRefused(401, "the Mailgun signature is missing")
    expected = hmac.new(
        signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace")):
        raise WebhookRefused(403, "the Mailgun signature does not verify")
    _check_age(timestamp, now, max_age)
    return token


def mailgun_events(payload: object) -> list[InboundEvent]:
    """The event in a Mailgun `failed` or `complained` webhook (other events: none)."""
    data = _object(_object(payload).get("event-data"))
    event, email = data.get("event"), _address(data.get("recipient"))
    report = str(data.get("id", ""))
    if event == "complained":
        kind, code, diagnostic = EventKind.COMPLAINT, "abuse", "complaint reported through Mailgun"
    elif event == "failed":
        status = _object(data.get("delivery-status"))
        kind = (
            EventKind.HARD_BOUNCE if data.get("severity") == "permanent" else EventKind.SOFT_BOUNCE
        )
        code = str(status.get("code") or "")
        diagnostic = str(status.get("description") or status.get("message") or data.get("reason"))
    else:
        return []
    return [
        InboundEvent(
            kind=kind,
            key=event_key("mailgun", report, email),
            recipient=email,
            code=code[:32],
            diagnostic=clean_diagnostic(diagnostic),
            source="mailgun",
        )
    ]


# SendGrid -------------------------------------------------------------------------------------


def verify_sendgrid(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    public_key: str,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Check a SendGrid event webhook's ECDSA signature over timestamp + body, and its age."""
    if not signature or not timestamp:
        raise WebhookRefused(401, "the SendGrid signature headers are missing")
    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key, validate=True))
        decoded = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise WebhookRefused(403, "the SendGrid signature or key is malformed") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookRefused(403, "the SendGrid verification key is not an ECDSA key")
    try:
        key.verify(decoded, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise WebhookRefused(403, "the SendGrid signature does not verify") from None
    _check_age(timestamp, now, max_age)


def sendgrid_events(payload: object) -> list[InboundEvent]:
    """The bounces and spam reports in a SendGrid event batch (other events: none)."""
    if not isinstance(payload, list):
        raise WebhookRefused(400, "a SendGrid batch is a JSON array")
    found = []
    for item in _objects(payload):
        event, email = item.get("event"), _address(item.get("email"))
        if event == "bounce":
            kind = EventKind.SOFT_BOUNCE if item.get("type") == "blocked" else EventKind.HARD_BOUNCE
            code, diagnostic = str(item.get("status") or ""), str(item.get("reason") or "")
        elif event == "spamreport":
            kind, code, diagnostic = EventKind.COMPLAINT, "abuse", "spam report through SendGrid"
        else:
            continue
        report = str(item.get("sg_event_id") or item.get("sg_message_id") or "")
        found.append(
            InboundEvent(
                kind=kind,
                key=event_key("sendgrid", report, email),
                recipient=email,
                code=code[:32],
                diagnostic=clean_diagnostic(diagnostic),
                source="sendgrid",
            )
        )
    return found


# Helpers --------------------------------------------------------------------------------------


def _check_age(timestamp: str, now: datetime, max_age: timedelta) -> None:
    try:
        signed = float(timestamp)
    except ValueError:
        raise WebhookRefused(403, "the signed timestamp is not a number") from None
    if abs(now.timestamp() - signed) > max_age.total_seconds():
        raise WebhookRefused(403, "the signed timestamp is too old (a replay?)")


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _address(value: object) -> str | None:
    if not isinstance(value, str) or "@" not in value or not value.isascii():
        return None
    address = value.strip()
    return address if address and not any(c.isspace() for c in address) else None
