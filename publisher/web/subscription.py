"""The subscription pages: the home page's form, sign-up, confirmation and unsubscribing.

A sign-up makes the address `pending` and mails it a confirmation link; the page that follows
is the same whether the address was new, pending, confirmed or unsubscribed, so the form tells
nobody who subscribes. A GET never changes anything (mail scanners open every link in a
message): confirming and unsubscribing each take a POST from a page with one button. The POST
`List-Unsubscribe=One-Click` (RFC 8058), as mail providers send it, unsubscribes with no page,
cookie or form token: the link's token is the authority.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.audience.forgetting import drop_forgotten
from publisher.audience.subscribers import (
    MAX_NAME_LENGTH,
    Subscriber,
    SubscriberError,
    check_address,
    check_digests,
    check_name,
    confirm_subscriber,
    confirmation_is_current,
    find_subscriber,
    forget_confirmation_sent,
    request_subscription,
    subscriber_by_id,
    unsubscribe_subscriber,
)
from publisher.audience.tokens import make_token, read_token, token_is_valid
from publisher.config import Config, DigestConfig
from publisher.errors import PublisherError
from publisher.mail.transport.opening import open_transport
from publisher.store.editions import EditionSummary, edition_summaries
from publisher.store.statuses import SubscriberStatus
from publisher.urls import archive_url
from publisher.web.conditional import answer_conditionally
from publisher.web.confirmation import confirmation_message, render_confirmation
from publisher.web.listings import Listing, listing_page
from publisher.web.mailings import mail_preferences_link, send_welcome
from publisher.web.ratelimit import StoredRateLimit
from publisher.web.security import (
    CLOCK_SKEW_SECONDS,
    CSRF_FIELD,
    MAX_BODY_BYTES,
    client_key,
    origin_of,
    posted_from,
)
from publisher.web.site import NO_STORE, PageError, WebSite

log = logging.getLogger(__name__)

MAX_EMAIL_LENGTH = 320
MAX_FORM_FIELDS = 50
HONEYPOT_FIELD = "website"
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
HOME_EDITIONS = 5
SUBSCRIBE_FORM, CONFIRM_FORM, UNSUBSCRIBE_FORM = "subscribe", "confirm", "unsubscribe"
Fields = Mapping[str, Sequence[str]]


class _SignUpForm(BaseModel):
    """The sign-up form's fields as posted, before their meaning is checked."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    email: Annotated[str, Field(min_length=1, max_length=MAX_EMAIL_LENGTH)]
    name: Annotated[str, Field(max_length=MAX_NAME_LENGTH)] = ""
    digests: Annotated[tuple[str, ...], Field(max_length=MAX_FORM_FIELDS)] = ()


@dataclass(frozen=True, slots=True)
class SignUpRequest:
    """A valid sign-up: the address as typed (trimmed), a one-line name, configured digests."""

    email: str
    name: str
    digests: tuple[str, ...]


def read_sign_up(
    fields: Fields, known: Sequence[str]
) -> tuple[SignUpRequest | None, dict[str, str]]:
    """A sign-up from the form's fields, or the problem with each field that has one.

    Problems are codes the home page's template words: `email_missing`, `email_too_long`,
    `email_invalid`, `name_too_long`, `name_invalid`, `digest_none`, `digest_unknown`.
    """
    raw = {"email": first(fields, "email").strip(), "name": first(fields, "name")}
    try:
        form = _SignUpForm.model_validate({**raw, "digests": tuple(fields.get("digest", ()))})
    except ValidationError as error:
        return None, _problems(error)
    problems: dict[str, str] = {}
    name = ""
    try:
        check_address(form.email)
    except SubscriberError:
        problems["email"] = "email_invalid"
    try:
        name = check_name(form.name)
    except SubscriberError:
        problems["name"] = "name_invalid"
    digests: tuple[str, ...] = ()
    if not form.digests:
        problems["digests"] = "digest_none"
    else:
        try:
            digests = check_digests(form.digests, known)
        except SubscriberError:
            problems["digests"] = "digest_unknown"
    if problems:
        return None, problems
    return SignUpRequest(form.email, name, digests), {}


def _problems(error: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "email"
        kind = problem["type"]
        if field == "digests":
            problems["digests"] = "digest_unknown"
        elif kind in ("missing", "string_too_short"):
            problems[field] = f"{field}_missing"
        elif kind == "string_too_long":
            problems[field] = f"{field}_too_long"
        else:
            problems[field] = f"{field}_invalid"
    return problems


def first(fields: Fields, key: str) -> str:
    """The first value posted for `key`, or ""."""
    values = fields.get(key)
    return values[0] if values else ""


def is_one_click(fields: Fields) -> bool:
    """Whether a POST is RFC 8058's one-click unsubscribe: `List-Unsubscribe=One-Click`."""
    return first(fields, ONE_CLICK_FIELD) == ONE_CLICK_VALUE


async def read_form(request: Request) -> dict[str, list[str]]:
    """A posted form's text fields; a file, too many fields or too many bytes is refused."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_BODY_BYTES)
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise PageError(400)
        fields.setdefault(key, []).append(value)
    return fields


def home_editions(config: Config, summaries: Sequence[EditionSummary]) -> list[dict[str, Any]]:
    """What the home page shows of the newest editions."""
    titles = {digest.name: digest.title for digest in config.digests}
    return [
        {
            "digest": titles.get(summary.digest, summary.digest),
            "number": summary.number,
            "subject": summary.subject,
            "date": summary.created_at,
            "url": archive_url(config, summary.digest, summary.number),
        }
        for summary in summaries
    ]


def blank_form(config: Config) -> dict[str, Any]:
    """The sign-up form's values before anyone typed: every digest ticked."""
    return {"email": "", "name": "", "digests": [digest.name for digest in config.digests]}


def home_context(
    site: WebSite,
    editions: list[dict[str, Any]],
    listing: Listing,
    values: Mapping[str, Any],
    problems: Mapping[str, str],
) -> dict[str, Any]:
    """What the `home` template shows: the sign-up form, the newest editions and stories."""
    return {
        "subscriptions_open": bool(site.config.digests) and site.config.mail is not None,
        "values": values,
        "problems": problems,
        "editions": editions,
        "articles": listing.articles,
        "pagination": listing.pagination,
        "honeypot_field": HONEYPOT_FIELD,
    }


class Subscriptions:
    """The home page, sign-up, confirmation and unsubscribe routes."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        config = site.config
        self.open = bool(config.digests) and config.mail is not None
        self.confirm_expiry = config.web.confirm_expiry
        self.confirm_resend = config.web.confirm_resend
        window = config.web.subscribe_window
        self.limit = StoredRateLimit(
            site.store, SUBSCRIBE_FORM, config.web.subscribe_limit, window, site.now
        )

    def routes(self) -> list[Route]:
        paths = self.site.paths
        return [
            Route(paths.home, self.home, methods=["GET"]),
            Route(paths.subscribe, self.subscribe, methods=["POST"]),
            Route(f"{paths.home}manage/", self.manage_page, methods=["GET"]),
            Route(f"{paths.home}manage/", self.manage, methods=["POST"]),
            Route(paths.confirm, self.confirm_page, methods=["GET"]),
            Route(paths.confirm, self.confirm, methods=["POST"]),
            Route(paths.unsubscribe, self.unsubscribe_page, methods=["GET"]),
            Route(paths.unsubscribe, self.unsubscribe, methods=["POST"]),
        ]

    # The home page and sign-up -----------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return await self._home(request, blank_form(self.site.config), {})

    async def _home(
        self, request: Request, values: Mapping[str, Any], problems: Mapping[str, str]
    ) -> Response:
        editions, listing = await run_in_threadpool(self._home_listings)
        context = home_context(self.site, editions, listing, values, problems)
        if problems:
            # What one reader typed: never kept by a cache.
            headers = {"cache-control": NO_STORE}
            return self.site.render(request, "home", context, 400, headers)
        # No per-visitor token: the same bytes for everyone, so a CDN or a static host keeps it.
        return answer_conditionally(request, self.site.render(request, "home", context))

    def _home_listings(self) -> tuple[list[dict[str, Any]], Listing]:
        config = self.site.config
        with self.site.store.read() as connection:
            summaries = edition_summaries(connection, HOME_EDITIONS)
            listing = listing_page(connection, 1, self.site.urls.home_page)
        assert listing is not None  # the first page always exists
        return home_editions(config, summaries), listing

    async def subscribe(self, request: Request) -> Response:
        if not self.open:
            raise PageError(404)
        client = client_key(request.client.host if request.client else None)
        decision = await run_in_threadpool(self.limit.check, client)
        if not decision.allowed:
            raise PageError(429, headers={"retry-after": str(decision.retry_after)})
        if not posted_from(request.headers, self._origins(request)):
            raise PageError(403)
        fields = await read_form(request)
        email = first(fields, "email").strip()
        if first(fields, HONEYPOT_FIELD):
            log.info("sign-up dropped: the honeypot field was filled in")
            return self._check_inbox(request, email[:MAX_EMAIL_LENGTH])
        known = [digest.name for digest in self.site.config.digests]
        sign_up, problems = read_sign_up(fields, known)
        if sign_up is None:
            values = {
                "email": email[:MAX_EMAIL_LENGTH],
                "name": first(fields, "name")[:MAX_NAME_LENGTH],
                "digests": [name for name in fields.get("digest", ()) if name in known],
            }
            return await self._home(request, values, problems)
        outcome = await run_in_threadpool(
            request_subscription,
            self.site.store,
            sign_up.email,
            sign_up.name,
            sign_up.digests,
            self.site.now(),
            self.confirm_resend,
        )
        background = None
        if outcome.send_confirmation:
            background = BackgroundTask(self.send_confirmation, outcome.subscriber)
        elif outcome.subscriber.status == SubscriberStatus.CONFIRMED:
            background = BackgroundTask(mail_preferences_link, self.site, outcome.subscriber)
        return self._check_inbox(request, sign_up.email, background)

    # Managing a subscription: an address in, its preferences link mailed --------------------

    async def manage_page(self, request: Request) -> Response:
        page = self.site.render(request, "manage", {"email": "", "problem": False})
        return answer_conditionally(request, page)

    async def manage(self, request: Request) -> Response:
        """Mail a subscribed address the link to its preferences; the same page for anyone."""
        client = client_key(request.client.host if request.client else None)
        decision = await run_in_threadpool(self.limit.check, client)
        if not decision.allowed:
            raise PageError(429, headers={"retry-after": str(decision.retry_after)})
        if not posted_from(request.headers, self._origins(request)):
            raise PageError(403)
        fields = await read_form(request)
        email = first(fields, "email").strip()[:MAX_EMAIL_LENGTH]
        try:
            check_address(email)
        except SubscriberError:
            context = {"email": email, "problem": True}
            headers = {"cache-control": NO_STORE}
            return self.site.render(request, "manage", context, 400, headers)
        found = await run_in_threadpool(find_subscriber, self.site.store, email)
        background = None
        if found is not None and found.status == SubscriberStatus.CONFIRMED:
            background = BackgroundTask(mail_preferences_link, self.site, found)
        return self.site.render(
            request,
            "manage-sent",
            {"email": email},
            headers={"cache-control": NO_STORE},
            background=background,
        )

    def _origins(self, request: Request) -> set[str]:
        """Where a sign-up may come from: a page of the site (served here or by a static host)
        or of this server as the request reached it (a local preview)."""
        config = self.site.config
        own = origin_of(str(request.base_url))
        return {origin_of(config.site.url), origin_of(config.web_base_url), own} - {""}

    def _check_inbox(
        self, request: Request, email: str, background: BackgroundTask | None = None
    ) -> Response:
        return self.site.render(
            request,
            "check-inbox",
            {"email": email},
            headers={"cache-control": NO_STORE},
            background=background,
        )

    def send_confirmation(self, subscriber: Subscriber) -> None:
        """Mail `subscriber` a confirmation link; on failure, let the next sign-up try again."""
        site = self.site
        now = site.now()
        token = make_token(
            site.secret, "confirm", subscriber.id, subscriber.token_nonce, int(now.timestamp())
        )
        try:
            text = render_confirmation(
                site.templates.env,
                site.config,
                subscriber.name,
                subscriber.email,
                self._digests(subscriber),
                f"{site.config.web_base_url}confirm/{token}",
                now + self.confirm_expiry,
            )
            envelope, message = confirmation_message(
                site.config, subscriber.name, subscriber.email, text, now
            )
            transport = open_transport(site.config, site.environ)
            try:
                transport.send(envelope.sender, envelope.recipient, message)
            finally:
                transport.close()
        except (PublisherError, OSError, jinja2.TemplateError) as error:
            log.error("confirmation for subscriber %s not sent: %s", subscriber.id, error)
            forget_confirmation_sent(site.store, subscriber.id)
        else:
            log.info("confirmation sent to subscriber %s", subscriber.id)

    def _digests(self, subscriber: Subscriber) -> tuple[DigestConfig, ...]:
        return tuple(d for d in self.site.config.digests if d.name in subscriber.digests)

    # Confirm -----------------------------------------------------------------------------

    async def confirm_page(self, request: Request) -> Response:
        subscriber = await self._subscriber_for(request, "confirm")
        if subscriber.status == SubscriberStatus.FORGOTTEN:
            raise PageError(400, "bad_link")
        context = self._token_page_context(request, subscriber)
        return self.site.render_form(request, "confirm", CONFIRM_FORM, context)

    async def confirm(self, request: Request) -> Response:
        fields = await read_form(request)
        subscriber = await self._subscriber_for(request, "confirm")
        if not self.site.form_is_genuine(request, CONFIRM_FORM, first(fields, CSRF_FIELD)):
            raise PageError(403, "form_expired")
        if subscriber.status == SubscriberStatus.FORGOTTEN:
            raise PageError(400, "bad_link")
        confirmed = await run_in_threadpool(
            confirm_subscriber, self.site.store, subscriber.id, self.site.now()
        )
        if confirmed is None or confirmed.status != SubscriberStatus.CONFIRMED:
            raise PageError(400, "bad_link")
        # The person confirmed from their own inbox: a request to be forgotten is withdrawn.
        await run_in_threadpool(drop_forgotten, self.site.store, self.site.secret, confirmed.email)
        context = self._token_page_context(request, confirmed)
        return self.site.render(
            request,
            "confirmed",
            context,
            headers={"cache-control": NO_STORE},
            background=BackgroundTask(send_welcome, self.site, confirmed),
        )

    # Unsubscribe -------------------------------------------------------------------------

    async def unsubscribe_page(self, request: Request) -> Response:
        subscriber = await self._subscriber_for(request, "unsubscribe")
        context = self._token_page_context(request, subscriber)
        return self.site.render_form(request, "unsubscribe", UNSUBSCRIBE_FORM, context)

    async def unsubscribe(self, request: Request) -> Response:
        fields = await read_form(request)
        subscriber = await self._subscriber_for(request, "unsubscribe")
        genuine = self.site.form_is_genuine(request, UNSUBSCRIBE_FORM, first(fields, CSRF_FIELD))
        if not is_one_click(fields) and not genuine:
            raise PageError(403, "form_expired")
        done = await run_in_threadpool(
            unsubscribe_subscriber, self.site.store, subscriber.id, self.site.now()
        )
        if done is None or done.status != SubscriberStatus.UNSUBSCRIBED:
            raise PageError(400, "bad_link")
        context = self._token_page_context(request, done)
        return self.site.render(
            request, "unsubscribed", context, headers={"cache-control": NO_STORE}
        )

    # Links -------------------------------------------------------------------------------

    def _token_page_context(self, request: Request, subscriber: Subscriber) -> dict[str, Any]:
        return {
            "subscriber": subscriber,
            "subscribed_to": self._digests(subscriber),
            "action": request.url.path,
        }

    async def _subscriber_for(self, request: Request, purpose: str) -> Subscriber:
        """The subscriber a confirm or unsubscribe link names; PageError for a bad link."""
        token = str(request.path_params["token"])
        claim = read_token(token)
        if claim is None:
            raise PageError(400, "bad_link")
        subscriber = await run_in_threadpool(subscriber_by_id, self.site.store, claim.subscriber_id)
        if subscriber is None or not token_is_valid(
            self.site.secret, purpose, token, subscriber.token_nonce
        ):
            raise PageError(400, "bad_link")
        if purpose == "confirm":
            age = self.site.now_seconds() - claim.issued
            if age < -CLOCK_SKEW_SECONDS:
                raise PageError(400, "bad_link")
            if age > self.confirm_expiry.total_seconds():
                raise PageError(410, "expired_link")
            if not confirmation_is_current(subscriber, claim.issued):
                raise PageError(400, "bad_link")
        return subscriber
