"""`POST /webhooks/<provider>`: ESP bounce and complaint events, verified, applied once.

Providers: `ses` (through SNS), `postmark`, `mailgun`, `sendgrid`; each answers only when its
key is configured (else 404). Keys come from the environment, named in `[webhooks]`. A
missing signature is 401, a wrong one, a replay or a certificate off the SNS hosts 403; a
store failure is 503 so the provider sends the event again, which then changes nothing more.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from publisher.errors import StoreError
from publisher.inbound.apply import APPLIED, DUPLICATE, apply_event
from publisher.inbound.events import InboundEvent
from publisher.inbound.providers import (
    WebhookRefused,
    check_basic_auth,
    check_sns_certificate_url,
    check_sns_url,
    mailgun_events,
    parse_json,
    postmark_events,
    sendgrid_events,
    ses_events,
    sns_message,
    verify_mailgun,
    verify_sendgrid,
    verify_sns_signature,
)
from publisher.web.site import WebSite

log = logging.getLogger(__name__)

MAX_WEBHOOK_BODY = 2 * 1024 * 1024
MAX_CERTIFICATE_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 10
Fetch = Callable[[str], bytes]
Handler = Callable[[Headers, bytes], list[InboundEvent]]


def fetch_https(url: str) -> bytes:
    """GET an https URL with the certificate verified; at most 64 KiB of it."""
    if not url.startswith("https://"):
        raise WebhookRefused(403, f"{url!r} is not https")
    context = ssl.create_default_context()
    request = urllib.request.Request(url, headers={"User-Agent": "publisher"})  # noqa: S310
    with urllib.request.urlopen(  # noqa: S310 (https only, checked above)
        request, timeout=FETCH_TIMEOUT_SECONDS, context=context
    ) as response:
        return bytes(response.read(MAX_CERTIFICATE_BYTES))


FAILURE_MEMORY = 300.0  # seconds a certificate that could not be fetched is not asked for


class SnsCertificates:
    """SNS signing certificates by URL: fetched from an SNS host only, once, then cached.

    `fetch` also confirms subscriptions (a GET of the SubscribeURL). Tests `add` a
    certificate, so no request leaves the machine.
    """

    def __init__(
        self, fetch: Fetch = fetch_https, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch, self._monotonic = fetch, monotonic
        self._cache: dict[str, bytes] = {}
        # URLs that failed, and when: not fetched again for FAILURE_MEMORY seconds, so forged
        # messages naming a missing certificate cannot make us fetch on every request.
        self._failed: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def add(self, url: str, pem: bytes) -> None:
        """Cache the certificate at `url` (an SNS host's, or refused)."""
        check_sns_certificate_url(url)
        with self._lock:
            self._cache[url] = pem

    def get(self, url: str) -> bytes:
        """The certificate at `url`, from the cache or fetched from the SNS host."""
        check_sns_certificate_url(url)
        with self._lock:
            cached = self._cache.get(url)
            failed = self._failed.get(url)
        if cached is not None:
            return cached
        if failed is not None and self._monotonic() - failed[0] < FAILURE_MEMORY:
            raise WebhookRefused(503, f"cannot fetch the SNS certificate: {failed[1]}")
        try:
            pem = self._fetch(url)
        except OSError as error:
            with self._lock:
                self._failed[url] = (self._monotonic(), str(error))
            raise WebhookRefused(503, f"cannot fetch the SNS certificate: {error}") from None
        self.add(url, pem)
        return pem

    def confirm(self, url: str) -> None:
        """Confirm an SNS subscription by visiting its SubscribeURL on the SNS host."""
        check_sns_url(url)
        try:
            self._fetch(url)
        except OSError as error:
            raise WebhookRefused(503, f"cannot confirm the SNS subscription: {error}") from None


class _SeenTokens:
    """Mailgun tokens seen within the replay window: one more use of any is a replay."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, token: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._seen = {t: at for t, at in self._seen.items() if now - at <= self.window * 2}
            if token in self._seen:
                return False
            self._seen[token] = now
            return True


class Webhooks:
    """The webhook routes of a site."""

    def __init__(self, site: WebSite, certificates: SnsCertificates | None = None) -> None:
        self.site = site
        self.settings = site.config.webhooks
        self.certificates = certificates or SnsCertificates()
        self.max_age = self.settings.max_age
        self.mailgun_tokens = _SeenTokens(self.max_age.total_seconds())
        self.handlers: dict[str, Handler] = {}
        environ = site.environ
        if self.settings.ses_topics:
            self.handlers["ses"] = self._ses
        if environ.get(self.settings.postmark_auth_env):
            self.handlers["postmark"] = self._postmark
        if environ.get(self.settings.mailgun_key_env):
            self.handlers["mailgun"] = self._mailgun
        if environ.get(self.settings.sendgrid_key_env):
            self.handlers["sendgrid"] = self._sendgrid

    @property
    def path(self) -> str:
        """Where the webhooks are served: `webhooks/` under the subscription pages."""
        return f"{self.site.paths.home}webhooks/"

    def routes(self) -> list[Route]:
        return [Route(self.path + "{provider}", self.receive, methods=["POST"])]

    async def receive(self, request: Request) -> Response:
        handler = self.handlers.get(request.path_params["provider"])
        if handler is None:
            return JSONResponse({"error": "no such webhook"}, status_code=404)
        body = await request.body()
        try:
            found = await run_in_threadpool(handler, request.headers, body)
            outcomes = await run_in_threadpool(self._apply, found)
        except WebhookRefused as refused:
            log.warning("webhook %s refused: %s", request.url.path, refused.reason)
            challenge = 'Basic realm="webhooks"'
            headers = {"www-authenticate": challenge} if refused.status == 401 else {}
            return JSONResponse(
                {"error": refused.reason}, status_code=refused.status, headers=headers
            )
        except (SQLAlchemyError, StoreError) as error:
            log.error("webhook %s: the store failed: %s", request.url.path, error)
            return JSONResponse({"error": "try again later"}, status_code=503)
        except Exception:  # a body no check foresaw: the sender's fault, never a 500
            log.exception("webhook %s: an unreadable request", request.url.path)
            return JSONResponse({"error": "the request cannot be read"}, status_code=400)
        return JSONResponse(
            {
                "applied": outcomes.count(APPLIED),
                "duplicates": outcomes.count(DUPLICATE),
                "ignored": len(outcomes) - outcomes.count(APPLIED) - outcomes.count(DUPLICATE),
            }
        )

    def _apply(self, found: list[InboundEvent]) -> list[str]:
        site = self.site
        return [
            apply_event(site.store, site.config, site.secret, event, site.clock()).outcome
            for event in found
        ]

    def _key(self, variable: str) -> str:
        return self.site.environ.get(variable, "")

    def _ses(self, headers: Headers, body: bytes) -> list[InboundEvent]:
        message = sns_message(body, self.settings.ses_topics)
        certificate = self.certificates.get(message["SigningCertURL"])
        verify_sns_signature(message, certificate, self.site.clock())
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            self.certificates.confirm(message.get("SubscribeURL", ""))
            log.info("confirmed the SNS subscription to %s", message["TopicArn"])
            return []
        if kind != "Notification":
            return []
        return ses_events(message["MessageId"], message.get("Message", ""))

    def _postmark(self, headers: Headers, body: bytes) -> list[InboundEvent]:
        check_basic_auth(headers.get("authorization"), self._key(self.settings.postmark_auth_env))
        return postmark_events(parse_json(body))

    def _mailgun(self, headers: Headers, body: bytes) -> list[InboundEvent]:
        payload: Any = parse_json(body)
        key = self._key(self.settings.mailgun_key_env)
        token = verify_mailgun(payload, key, self.site.clock(), self.max_age)
        if not self.mailgun_tokens.first_use(token):
            raise WebhookRefused(403, "this Mailgun token was used before (a replay)")
        return mailgun_events(payload)

    def _sendgrid(self, headers: Headers, body: bytes) -> list[InboundEvent]:
        verify_sendgrid(
            body,
            headers.get("x-twilio-email-event-webhook-signature"),
            headers.get("x-twilio-email-event-webhook-timestamp"),
            self._key(self.settings.sendgrid_key_env),
            self.site.clock(),
            self.max_age,
        )
        return sendgrid_events(parse_json(body))
