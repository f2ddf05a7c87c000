"""A subscriber's own pages: leave one digest, change their preferences, move their address.

- `unsubscribe/<digest>/<token>`: the link (and List-Unsubscribe URL) of a digest's messages.
  The page offers "only this digest" (the default) or "everything"; RFC 8058's one-click POST
  leaves that digest only. The older `unsubscribe/<token>` (in `subscription`) still leaves all.
- `preferences/<token>`: digests, name, a pause, "unsubscribe from everything", a new address.
- `address/<token>`: mailed to a new address; pressing its button moves the subscription there.

A GET never changes anything; every POST but the one-click needs the page's form token.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

import jinja2
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.audience.forgetting import forget_subscriber
from publisher.audience.links import (
    PREFERENCES,
    address_purpose,
    address_url,
    forget_url,
    link_is_valid,
    preferences_url,
    unsubscribe_purpose,
)
from publisher.audience.preferences import (
    Preferences,
    confirm_address_change,
    leave_digest,
    pause_end,
    preferences_of,
    request_address_change,
    save_preferences,
)
from publisher.audience.subscribers import (
    MAX_NAME_LENGTH,
    Subscriber,
    SubscriberError,
    check_address,
    check_name,
    subscriber_by_id,
    unsubscribe_subscriber,
)
from publisher.audience.tokens import read_token
from publisher.config import DigestConfig
from publisher.errors import PublisherError
from publisher.store.statuses import SubscriberStatus
from publisher.web.mailings import send_plain_mail
from publisher.web.ratelimit import StoredRateLimit
from publisher.web.security import CLOCK_SKEW_SECONDS, CSRF_FIELD
from publisher.web.site import NO_STORE, PageError, WebSite
from publisher.web.subscription import MAX_EMAIL_LENGTH, first, is_one_click, read_form

log = logging.getLogger(__name__)

LEAVE_FORM, PREFERENCES_FORM, ADDRESS_FORM, FORGET_FORM = (
    "leave",
    "preferences",
    "address",
    "forget",
)
SCOPE_ALL = "all"  # the form's other scope, "digest", is the default
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def read_pause(text: str) -> date | None:
    """A `YYYY-MM-DD` date from the form, or None when empty; ValueError otherwise."""
    text = text.strip()
    if not text:
        return None
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    return date.fromisoformat(text)


class PreferencePages:
    """The routes of the per-digest unsubscribe, preferences and change-of-address pages."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self.confirm_expiry = site.config.web.confirm_expiry
        # Each change of address mails someone: as many per subscriber as sign-ups per client.
        window = site.config.web.subscribe_window
        self.address_limit = StoredRateLimit(
            site.store, "address-change", site.config.web.subscribe_limit, window, site.now
        )

    def routes(self) -> list[Route]:
        home = self.site.paths.home
        leave, preferences = (
            f"{home}unsubscribe/{{digest}}/{{token}}",
            f"{home}preferences/{{token}}",
        )
        address, forget = f"{home}address/{{token}}", f"{home}forget/{{token}}"
        return [
            Route(forget, self.forget_page, methods=["GET"]),
            Route(forget, self.forget, methods=["POST"]),
            Route(leave, self.leave_page, methods=["GET"]),
            Route(leave, self.leave, methods=["POST"]),
            Route(preferences, self.preferences_page, methods=["GET"]),
            Route(preferences, self.change_preferences, methods=["POST"]),
            Route(address, self.address_page, methods=["GET"]),
            Route(address, self.change_address, methods=["POST"]),
        ]

    # Leaving one digest ------------------------------------------------------------------

    async def leave_page(self, request: Request) -> Response:
        digest = str(request.path_params["digest"])
        subscriber = await self._subscriber_for(request, unsubscribe_purpose(digest))
        context = {**self._context(request, subscriber), "digest": self._digest(digest)}
        return self.site.render_form(request, "leave-digest", LEAVE_FORM, context)

    async def leave(self, request: Request) -> Response:
        fields = await read_form(request)
        digest = str(request.path_params["digest"])
        subscriber = await self._subscriber_for(request, unsubscribe_purpose(digest))
        one_click = is_one_click(fields)
        genuine = self.site.form_is_genuine(request, LEAVE_FORM, first(fields, CSRF_FIELD))
        if not one_click and not genuine:
            raise PageError(403, "form_expired")
        now = self.site.now()
        if not one_click and first(fields, "scope") == SCOPE_ALL:
            done = await run_in_threadpool(
                unsubscribe_subscriber, self.site.store, subscriber.id, now
            )
        else:
            done = await run_in_threadpool(
                leave_digest, self.site.store, subscriber.id, digest, now
            )
        if done is None:
            raise PageError(400, "bad_link")
        context = {
            **self._context(request, done),
            "digest": self._digest(digest),
            "everything": done.status == SubscriberStatus.UNSUBSCRIBED,
        }
        return self.site.render(
            request, "left-digest", context, headers={"cache-control": NO_STORE}
        )

    # Preferences -------------------------------------------------------------------------

    async def preferences_page(self, request: Request) -> Response:
        subscriber = await self._subscriber_for(request, PREFERENCES)
        return await self._preferences(request, subscriber, {}, None)

    async def change_preferences(self, request: Request) -> Response:
        fields = await read_form(request)
        subscriber = await self._subscriber_for(request, PREFERENCES)
        if not self.site.form_is_genuine(request, PREFERENCES_FORM, first(fields, CSRF_FIELD)):
            raise PageError(403, "form_expired")
        action = first(fields, "action")
        if action == "unsubscribe_all":
            done = await run_in_threadpool(
                unsubscribe_subscriber, self.site.store, subscriber.id, self.site.now()
            )
            if done is None:
                raise PageError(400, "bad_link")
            return self.site.render(
                request,
                "unsubscribed",
                self._context(request, done),
                headers={"cache-control": NO_STORE},
            )
        if action == "change_address":
            return await self._request_address(request, subscriber, first(fields, "new_email"))
        if action != "save":
            raise PageError(400)
        return await self._save(request, subscriber, fields)

    async def _save(
        self, request: Request, subscriber: Subscriber, fields: dict[str, list[str]]
    ) -> Response:
        known = [digest.name for digest in self.site.config.digests]
        chosen = tuple(dict.fromkeys(fields.get("digest", ())))
        problems: dict[str, str] = {}
        if any(name not in known for name in chosen):
            problems["digests"] = "digest_unknown"
        name = ""
        try:
            name = check_name(first(fields, "name")[: MAX_NAME_LENGTH + 1])
        except SubscriberError:
            problems["name"] = "name_invalid"
        paused_until = None
        try:
            day = read_pause(first(fields, "paused_until"))
            if day is not None:
                paused_until = pause_end(day, self.site.config.site.zone, self.site.now())
        except (ValueError, SubscriberError):
            problems["paused_until"] = "pause_invalid"
        if problems:
            return await self._preferences(request, subscriber, problems, None, status=400)
        saved = await run_in_threadpool(
            save_preferences,
            self.site.store,
            subscriber.id,
            chosen,
            name,
            paused_until,
            self.site.now(),
        )
        if saved is None:
            raise PageError(400, "bad_link")
        notice = "unsubscribed" if saved.status == SubscriberStatus.UNSUBSCRIBED else "saved"
        return await self._preferences(request, saved, {}, notice)

    async def _request_address(
        self, request: Request, subscriber: Subscriber, typed: str
    ) -> Response:
        try:
            new_email = check_address(typed[:MAX_EMAIL_LENGTH].strip()).email
        except SubscriberError:
            return await self._preferences(
                request, subscriber, {"new_email": "email_invalid"}, None, status=400
            )
        if new_email.casefold() == subscriber.email.casefold():
            return await self._preferences(
                request, subscriber, {"new_email": "email_same"}, None, status=400
            )
        decision = self.address_limit.check(f"subscriber:{subscriber.id}")
        if not decision.allowed:
            raise PageError(429, headers={"retry-after": str(decision.retry_after)})
        await run_in_threadpool(request_address_change, self.site.store, subscriber.id, new_email)
        task = BackgroundTask(self._mail_address_link, subscriber, new_email)
        response = await self._preferences(request, subscriber, {}, "address_sent")
        response.background = task
        return response

    def _mail_address_link(self, subscriber: Subscriber, new_email: str) -> None:
        site = self.site
        now = site.now()
        url = address_url(
            site.config.web_base_url,
            site.secret,
            subscriber.id,
            subscriber.token_nonce,
            new_email,
            int(now.timestamp()),
        )
        context = {
            "address_url": url,
            "old_email": subscriber.email,
            "expires": now + self.confirm_expiry,
        }
        try:
            send_plain_mail(site, "address", context, subscriber.name, new_email)
        except (PublisherError, OSError, jinja2.TemplateError) as error:
            log.error("address confirmation for subscriber %s not sent: %s", subscriber.id, error)

    async def _preferences(
        self,
        request: Request,
        subscriber: Subscriber,
        problems: dict[str, str],
        notice: str | None,
        status: int = 200,
    ) -> Response:
        found = await run_in_threadpool(preferences_of, self.site.store, subscriber.id)
        if found is None:
            raise PageError(400, "bad_link")
        context = {**self._context(request, found.subscriber), **self._pause(found)}
        context |= {"problems": problems, "notice": notice, "pending_email": found.pending_email}
        return self.site.render_form(request, "preferences", PREFERENCES_FORM, context, status)

    def _pause(self, found: Preferences) -> dict[str, Any]:
        paused = found.paused_until
        if paused is None or paused <= self.site.now():
            return {"paused_until": None, "pause_value": ""}
        local = paused.astimezone(self.site.config.site.zone)
        return {"paused_until": local, "pause_value": local.date().isoformat()}

    # Forgetting ----------------------------------------------------------------------------

    async def forget_page(self, request: Request) -> Response:
        subscriber = await self._subscriber_for(request, PREFERENCES)
        context = self._context(request, subscriber)
        return self.site.render_form(request, "forget", FORGET_FORM, context)

    async def forget(self, request: Request) -> Response:
        fields = await read_form(request)
        subscriber = await self._subscriber_for(request, PREFERENCES)
        if not self.site.form_is_genuine(request, FORGET_FORM, first(fields, CSRF_FIELD)):
            raise PageError(403, "form_expired")
        await run_in_threadpool(
            forget_subscriber, self.site.store, self.site.secret, subscriber.id, self.site.now()
        )
        return self.site.render(request, "forgotten", {}, headers={"cache-control": NO_STORE})

    # Change of address -------------------------------------------------------------------

    async def address_page(self, request: Request) -> Response:
        subscriber, new_email = await self._address_change_for(request)
        context = {**self._context(request, subscriber), "new_email": new_email}
        return self.site.render_form(request, "address", ADDRESS_FORM, context)

    async def change_address(self, request: Request) -> Response:
        fields = await read_form(request)
        subscriber, new_email = await self._address_change_for(request)
        if not self.site.form_is_genuine(request, ADDRESS_FORM, first(fields, CSRF_FIELD)):
            raise PageError(403, "form_expired")
        try:
            moved = await run_in_threadpool(
                confirm_address_change, self.site.store, subscriber.id, new_email
            )
        except SubscriberError:
            raise PageError(409, "address_taken") from None
        return self.site.render(
            request,
            "address-changed",
            self._context(request, moved),
            headers={"cache-control": NO_STORE},
        )

    async def _address_change_for(self, request: Request) -> tuple[Subscriber, str]:
        """The subscriber and new address an address link names; PageError if it is bad."""
        token = str(request.path_params["token"])
        claim = read_token(token)
        if claim is None:
            raise PageError(404)
        found = await run_in_threadpool(preferences_of, self.site.store, claim.subscriber_id)
        if found is None or found.pending_email is None:
            raise PageError(404)
        subscriber = found.subscriber
        purpose = address_purpose(found.pending_email)
        if not link_is_valid(self.site.secret, purpose, token, subscriber.token_nonce):
            raise PageError(404)
        age = self.site.now_seconds() - claim.issued
        if age < -CLOCK_SKEW_SECONDS or age > self.confirm_expiry.total_seconds():
            raise PageError(410, "expired_link")
        return subscriber, found.pending_email

    # Shared --------------------------------------------------------------------------------

    async def _subscriber_for(self, request: Request, purpose: str) -> Subscriber:
        """The subscriber a link names, if signed for `purpose`; a 404 page for a bad link."""
        token = str(request.path_params["token"])
        claim = read_token(token)
        if claim is None:
            raise PageError(404)
        subscriber = await run_in_threadpool(subscriber_by_id, self.site.store, claim.subscriber_id)
        if (
            subscriber is None
            or subscriber.status == SubscriberStatus.FORGOTTEN
            or not link_is_valid(self.site.secret, purpose, token, subscriber.token_nonce)
        ):
            raise PageError(404)
        return subscriber

    def _context(self, request: Request, subscriber: Subscriber) -> dict[str, Any]:
        return {
            "subscriber": subscriber,
            "subscribed_to": self._digests(subscriber),
            "confirmed": subscriber.status == SubscriberStatus.CONFIRMED,
            "action": request.url.path,
            "preferences_url": preferences_url(
                self.site.config.web_base_url,
                self.site.secret,
                subscriber.id,
                subscriber.token_nonce,
            ),
            "forget_url": forget_url(
                self.site.config.web_base_url,
                self.site.secret,
                subscriber.id,
                subscriber.token_nonce,
            ),
        }

    def _digests(self, subscriber: Subscriber) -> tuple[DigestConfig, ...]:
        return tuple(d for d in self.site.config.digests if d.name in subscriber.digests)

    def _digest(self, name: str) -> DigestConfig | None:
        return next((d for d in self.site.config.digests if d.name == name), None)
