"""The API's endpoints, answering the routes of the table in `publisher.web.api.table`.

Every request but the OpenAPI document's shows a bearer token (`publisher admin token
create`): none or a bad one is 401, a read token asking to change something 403, and each
token is held to `[admin] api_limit` requests per `api_window`, counted in the store. Bodies
are JSON objects, checked with pydantic at the door. A send is queued (202, with where to
watch it): the web process never sends an edition itself.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from publisher.audience.forgetting import refuse_forgotten
from publisher.audience.operator_actions import (
    change_digests_by_operator,
    forget_by_operator,
    unsubscribe_by_operator,
)
from publisher.audience.subscribers import (
    SubscriberError,
    add_subscriber,
    check_digests,
    request_subscription,
    subscriber_by_id,
)
from publisher.errors import PublisherError
from publisher.mail.delivery.requests import queue_send
from publisher.mail.delivery.send import SendOptions
from publisher.mail.editions import PREVIEW_RECIPIENT, create_edition, edition_by_id
from publisher.mail.render import personalize
from publisher.operators.accounts import admin_enabled
from publisher.operators.apitokens import Scope, token_for
from publisher.reports.articles import article_record, articles_by_status
from publisher.sources.poll import source_states
from publisher.status import LEDGER_KINDS, analytics_document, site_status, status_document
from publisher.store.analytics import EditionAnalytics, edition_analytics
from publisher.store.dashboard import EditionRow, edition_rows, make_source_due
from publisher.store.operators import ApiToken
from publisher.store.statuses import ArticleStatus, SubscriberStatus
from publisher.store.subscribers import (
    SubscriberRow,
    SubscriberSearch,
    found_subscribers,
    subscribers_by_id,
)
from publisher.web.api.openapi import openapi_document
from publisher.web.api.problems import PRIVATE, Problem, problem_response
from publisher.web.api.table import (
    ENDPOINTS,
    Body,
    Digests,
    Endpoint,
    NewEdition,
    NewSubscriber,
    Send,
)
from publisher.web.ratelimit import StoredRateLimit
from publisher.web.site import WebSite
from publisher.web.subscription import Subscriptions

MAX_ID = 2**31 - 1
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def subscriber_record(row: SubscriberRow) -> dict[str, Any]:
    """A subscriber as the API shows them."""
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "status": row.status,
        "digests": list(row.digests),
        "created_at": _iso(row.created_at),
        "confirmed_at": _iso(row.confirmed_at),
    }


def edition_record(row: EditionRow) -> dict[str, Any]:
    """An edition as the API shows it, its ledger by status."""
    return {
        "id": row.id,
        "digest": row.digest,
        "number": row.number,
        "subject": row.subject,
        "created_at": _iso(row.created_at),
        "articles": row.articles,
        "delivery_started_at": _iso(row.delivery_started_at),
        "delivered_at": _iso(row.delivered_at),
        "ledger": {kind: row.ledger.get(kind, 0) for kind in LEDGER_KINDS},
    }


def read_id(text: object) -> int:
    """A row id from the path; 404 for anything that is not one."""
    if not isinstance(text, str) or not text.isascii() or not text.isdecimal():
        raise Problem(404, "no such record")
    value = int(text)
    if not 1 <= value <= MAX_ID:
        raise Problem(404, "no such record")
    return value


def read_limit(request: Request) -> int:
    """`?limit=`: how many records a page holds (1 to 500, default 50)."""
    text = request.query_params.get("limit", "")
    if not text:
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdecimal() or not 1 <= int(text) <= MAX_LIMIT:
        raise Problem(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def read_cursor(request: Request) -> int:
    """`?cursor=`: the id the previous page ended at (0 for the first page)."""
    text = request.query_params.get("cursor", "")
    if not text:
        return 0
    if not text.isascii() or not text.isdecimal() or int(text) > MAX_ID:
        raise Problem(400, "cursor must be the next_cursor of a previous page")
    return int(text)


Handler = Callable[[Request, ApiToken], Awaitable[Response]]


class Api:
    """The API's routes over one site."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self.prefix = f"{site.paths.home}api/v1/"
        limits = site.config.admin
        self.limit = StoredRateLimit(
            site.store, "api", limits.api_limit, limits.api_window, site.now
        )
        self.digests = tuple(digest.name for digest in site.config.digests)

    def routes(self) -> list[Route]:
        return [
            Route(
                self.prefix + endpoint.path,
                self._guarded(endpoint),
                methods=[endpoint.method],
                name=f"api:{endpoint.handler}",
            )
            for endpoint in ENDPOINTS
        ]

    def _guarded(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        handler = getattr(self, endpoint.handler)

        async def answer(request: Request) -> Response:
            try:
                if not await run_in_threadpool(admin_enabled, self.site.config, self.site.store):
                    raise Problem(404, "the API is off ([admin] enabled)")
                if endpoint.scope is None:
                    response: Response = await handler(request)
                    return response
                token = await self._token(request, endpoint.scope)
                response = await handler(request, token)
                return response
            except Problem as problem:
                return problem_response(problem)

        return answer

    async def _token(self, request: Request, scope: str) -> ApiToken:
        kind, _, presented = request.headers.get("authorization", "").partition(" ")
        token = None
        if kind.lower() == "bearer" and presented:
            token = await run_in_threadpool(
                token_for, self.site.store, presented.strip(), self.site.now()
            )
        if token is None:
            raise Problem(401, "a valid bearer token is needed", {"www-authenticate": "Bearer"})
        if scope == Scope.WRITE and token.scope != Scope.WRITE:
            raise Problem(403, "this token may only read")
        decision = await run_in_threadpool(self.limit.check, f"token:{token.id}")
        if not decision.allowed:
            raise Problem(429, "too many requests", {"retry-after": str(decision.retry_after)})
        return token

    @staticmethod
    def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(body, status, headers={"cache-control": PRIVATE, **(headers or {})})

    @staticmethod
    async def body(request: Request, model: type[Body]) -> Any:
        raw = await request.body()
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise Problem(400, "the body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise Problem(422, f"{where}: {first['msg']}") from None

    async def run(self, function: Callable[..., Any], *arguments: Any) -> Any:
        """Call a library function off the event loop; its refusals become 4xx problems."""
        try:
            return await run_in_threadpool(function, *arguments)
        except SubscriberError as error:
            raise Problem(422, str(error)) from None
        except PublisherError as error:
            raise Problem(409, str(error)) from None

    # The document and the status -------------------------------------------------------------

    async def openapi(self, request: Request) -> Response:
        return self.json(openapi_document(self.site.config, self.prefix))

    async def status(self, request: Request, token: ApiToken) -> Response:
        found = await run_in_threadpool(site_status, self.site.config, self.site.store)
        return self.json(status_document(found))

    # Subscribers -----------------------------------------------------------------------------

    async def list_subscribers(self, request: Request, token: ApiToken) -> Response:
        params = request.query_params
        status, digest = params.get("status") or None, params.get("digest") or None
        if status is not None and status not in tuple(SubscriberStatus):
            raise Problem(400, f"status must be one of {', '.join(SubscriberStatus)}")
        if digest is not None and digest not in self.digests:
            raise Problem(400, f"no digest {digest!r}")
        wanted = SubscriberSearch(params.get("q", "")[:200], status, digest)
        limit, cursor = read_limit(request), read_cursor(request)

        def read() -> list[SubscriberRow]:
            with self.site.store.read() as connection:
                return found_subscribers(connection, wanted, after=cursor, limit=limit)

        rows = await run_in_threadpool(read)
        next_cursor = rows[-1].id if len(rows) == limit else None
        return self.json(
            {"subscribers": [subscriber_record(row) for row in rows], "next_cursor": next_cursor}
        )

    async def _subscriber(self, subscriber_id: int) -> dict[str, Any]:
        def read() -> list[SubscriberRow]:
            with self.site.store.read() as connection:
                return subscribers_by_id(connection, [subscriber_id])

        rows = await run_in_threadpool(read)
        if not rows:
            raise Problem(404, f"no subscriber {subscriber_id}")
        return subscriber_record(rows[0])

    async def get_subscriber(self, request: Request, token: ApiToken) -> Response:
        return self.json(await self._subscriber(read_id(request.path_params["id"])))

    async def create_subscriber(self, request: Request, token: ApiToken) -> Response:
        wanted: NewSubscriber = await self.body(request, NewSubscriber)
        site = self.site
        digests = await self.run(check_digests, wanted.digests, self.digests)
        if wanted.confirmed:
            await self.run(refuse_forgotten, site.store, site.secret, wanted.email)
            subscriber, _ = await self.run(
                add_subscriber, site.store, wanted.email, wanted.name, digests, site.now()
            )
            return self.json(await self._subscriber(subscriber.id), 201)
        outcome = await self.run(
            request_subscription,
            site.store,
            wanted.email,
            wanted.name,
            digests,
            site.now(),
            site.config.web.confirm_resend,
        )
        background = None
        if outcome.send_confirmation:
            background = BackgroundTask(Subscriptions(site).send_confirmation, outcome.subscriber)
        record = await self._subscriber(outcome.subscriber.id)
        record["confirmation_sent"] = outcome.send_confirmation
        response = self.json(record, 201)
        response.background = background
        return response

    async def set_digests(self, request: Request, token: ApiToken) -> Response:
        subscriber_id = read_id(request.path_params["id"])
        wanted: Digests = await self.body(request, Digests)
        await self._exists(subscriber_id)
        await self.run(
            change_digests_by_operator,
            self.site.store,
            subscriber_id,
            wanted.digests,
            self.digests,
            _who(token),
            self.site.now(),
        )
        return self.json(await self._subscriber(subscriber_id))

    async def _exists(self, subscriber_id: int) -> None:
        found = await run_in_threadpool(subscriber_by_id, self.site.store, subscriber_id)
        if found is None or found.status == SubscriberStatus.FORGOTTEN:
            raise Problem(404, f"no subscriber {subscriber_id}")

    async def unsubscribe(self, request: Request, token: ApiToken) -> Response:
        subscriber_id = read_id(request.path_params["id"])
        await self._exists(subscriber_id)
        await self.run(
            unsubscribe_by_operator, self.site.store, subscriber_id, _who(token), self.site.now()
        )
        return self.json(await self._subscriber(subscriber_id))

    async def forget(self, request: Request, token: ApiToken) -> Response:
        subscriber_id = read_id(request.path_params["id"])
        await self._exists(subscriber_id)
        site = self.site
        await self.run(
            forget_by_operator, site.store, site.secret, subscriber_id, _who(token), site.now()
        )
        return self.json(await self._subscriber(subscriber_id))

    # Editions --------------------------------------------------------------------------------

    async def list_editions(self, request: Request, token: ApiToken) -> Response:
        digest = request.query_params.get("digest") or None
        if digest is not None and digest not in self.digests:
            raise Problem(400, f"no digest {digest!r}")
        limit, cursor = read_limit(request), read_cursor(request)

        def read() -> list[EditionRow]:
            with self.site.store.transaction() as connection:
                return edition_rows(connection, limit, digest, before_id=cursor or None)

        rows = await run_in_threadpool(read)
        next_cursor = rows[-1].id if len(rows) == limit else None
        return self.json(
            {"editions": [edition_record(row) for row in rows], "next_cursor": next_cursor}
        )

    async def _edition(self, edition_id: int) -> dict[str, Any]:
        def read() -> list[EditionRow]:
            with self.site.store.transaction() as connection:
                return edition_rows(connection, 1, edition_id=edition_id)

        rows = await run_in_threadpool(read)
        if not rows:
            raise Problem(404, f"no edition {edition_id}")
        return edition_record(rows[0])

    async def get_edition(self, request: Request, token: ApiToken) -> Response:
        edition_id = read_id(request.path_params["id"])
        record = await self._edition(edition_id)

        def read() -> EditionAnalytics:
            with self.site.store.transaction() as connection:
                return edition_analytics(connection, edition_id)

        found = await run_in_threadpool(read)
        if found.links or found.opens_unique:
            record["analytics"] = analytics_document(found)
        return self.json(record)

    async def create_edition(self, request: Request, token: ApiToken) -> Response:
        wanted: NewEdition = await self.body(request, NewEdition)
        if wanted.digest not in self.digests:
            raise Problem(422, f"no digest {wanted.digest!r}")
        site = self.site
        outcome = await self.run(create_edition, site.store, site.config, wanted.digest, site.now)
        made = [await self._edition(edition.id) for edition in outcome.editions]
        return self.json({"message": outcome.message, "editions": made}, 201 if made else 200)

    async def send_edition(self, request: Request, token: ApiToken) -> Response:
        edition_id = read_id(request.path_params["id"])
        wanted: Send = await self.body(request, Send)
        await self._edition(edition_id)
        options = SendOptions(wanted.force, wanted.retry_uncertain, wanted.retry_failed)
        site = self.site
        queued = await self.run(
            queue_send, site.store, edition_id, options, _who(token), site.now()
        )
        watch = f"{self.prefix}editions/{edition_id}"
        body = {"request": queued.id, "state": queued.state, "edition": edition_id, "watch": watch}
        return self.json(body, 202, {"location": watch})

    async def preview_edition(self, request: Request, token: ApiToken) -> Response:
        edition_id = read_id(request.path_params["id"])
        await self._edition(edition_id)
        edition = await self.run(edition_by_id, self.site.store, edition_id)
        html, text = personalize(edition.rendered, PREVIEW_RECIPIENT)
        return self.json({"id": edition_id, "subject": edition.subject, "html": html, "text": text})

    # Articles and sources --------------------------------------------------------------------

    async def list_articles(self, request: Request, token: ApiToken) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in tuple(ArticleStatus):
            raise Problem(400, f"status must be one of {', '.join(ArticleStatus)}")
        rows = await run_in_threadpool(
            articles_by_status, self.site.store, (status,) if status else ()
        )
        return self.json({"articles": [article_record(row) for row in rows]})

    async def list_sources(self, request: Request, token: ApiToken) -> Response:
        states = await run_in_threadpool(source_states, self.site.store)
        found = []
        for source in self.site.config.sources:
            state = states.get(source.name)
            found.append(
                {
                    "name": source.name,
                    "url": state.url if state else source.url,
                    "last_fetch_at": _iso(state.last_fetch_at) if state else None,
                    "status": ("disabled" if state.disabled else state.last_status)
                    if state
                    else None,
                    "failures": state.failures if state else 0,
                    "next_fetch_at": _iso(state.next_fetch_at) if state else None,
                    "last_error": state.last_error if state else None,
                }
            )
        return self.json({"sources": found})

    async def fetch_source(self, request: Request, token: ApiToken) -> Response:
        name = str(request.path_params["name"])
        if name not in {source.name for source in self.site.config.sources}:
            raise Problem(404, f"no source {name!r}")

        def make_due() -> bool:
            with self.site.store.transaction() as connection:
                return make_source_due(connection, name, self.site.now())

        await run_in_threadpool(make_due)
        return self.json(
            {"source": name, "due": True, "watch": f"{self.prefix}sources"},
            202,
            {"location": f"{self.prefix}sources"},
        )


def _who(token: ApiToken) -> str:
    return f"API token {token.name}"
