"""The dashboard's subscriber pages: search, a subscriber and their events, and the actions
(resend the confirmation, change digests, unsubscribe, forget), each confirmed on a page of
its own and logged as an event naming the operator."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from publisher.audience.operator_actions import (
    change_digests_by_operator,
    claim_confirmation_resend,
    forget_by_operator,
    unsubscribe_by_operator,
)
from publisher.audience.subscribers import Subscriber, SubscriberError, subscriber_by_id
from publisher.inbound.apply import subscriber_events
from publisher.store.statuses import SubscriberStatus
from publisher.store.subscribers import (
    FOUND_COUNT_LIMIT,
    SubscriberRow,
    SubscriberSearch,
    count_found,
    found_subscribers,
)
from publisher.web.admin.login import require_genuine_form
from publisher.web.admin.shell import PRIVATE, AdminSite, Operator, Page, record_id
from publisher.web.site import PageError
from publisher.web.subscription import Subscriptions

PAGE_SIZE = 50
MAX_PAGE = 1_000_000
ACTIONS = ("resend", "digests", "unsubscribe", "forget")


def search_from(request: Request, digests: tuple[str, ...]) -> SubscriberSearch:
    """The search a list page asks for; unknown statuses and digests are refused with 400."""
    params = request.query_params
    status = params.get("status") or None
    digest = params.get("digest") or None
    if status is not None and status not in tuple(SubscriberStatus):
        raise PageError(400)
    if digest is not None and digest not in digests:
        raise PageError(400)
    return SubscriberSearch(params.get("q", "")[:200], status, digest)


def page_number(text: str | None) -> int:
    """A page number from the query (1 when absent); 400 for anything else."""
    if not text:
        return 1
    if not text.isascii() or not text.isdecimal() or not 1 <= int(text) <= MAX_PAGE:
        raise PageError(400)
    return int(text)


class SubscriberPages:
    """`/admin/subscribers`, one subscriber's page, and its confirmed actions."""

    def __init__(self, admin: AdminSite) -> None:
        self.admin = admin
        self.digests = tuple(digest.name for digest in admin.config.digests)

    def routes(
        self, guard: Callable[[Page], Callable[[Request], Awaitable[Response]]]
    ) -> list[Route]:
        url = self.admin.url
        return [
            Route(url("subscribers"), guard(self.search), methods=["GET"]),
            Route(url("subscribers/{id}"), guard(self.subscriber), methods=["GET"]),
            Route(url("subscribers/{id}/{action}"), guard(self.confirm_page), methods=["GET"]),
            Route(url("subscribers/{id}/{action}"), guard(self.act), methods=["POST"]),
        ]

    async def search(self, request: Request, operator: Operator) -> Response:
        wanted = search_from(request, self.digests)
        page = page_number(request.query_params.get("page"))

        def read() -> tuple[int, list[SubscriberRow]]:
            with self.admin.site.store.read() as connection:
                total = count_found(connection, wanted)
                rows = found_subscribers(
                    connection, wanted, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
                )
            return total, rows

        total, rows = await run_in_threadpool(read)
        context = {
            "wanted": wanted,
            "rows": rows,
            # Past the limit a search is not counted to the end: "more than" it, its pages so far.
            "total": total,
            "more_than": FOUND_COUNT_LIMIT if total > FOUND_COUNT_LIMIT else None,
            "page": page,
            "pages": _pages(total, page, len(rows)),
            "statuses": tuple(SubscriberStatus),
            "digest_names": self.digests,
        }
        return self.admin.render(request, "subscribers", context, operator=operator)

    async def _subscriber(self, request: Request) -> Subscriber:
        subscriber_id = record_id(request.path_params["id"])
        found = await run_in_threadpool(subscriber_by_id, self.admin.site.store, subscriber_id)
        if found is None:
            raise PageError(404)
        return found

    async def subscriber(self, request: Request, operator: Operator) -> Response:
        found = await self._subscriber(request)
        events = await run_in_threadpool(subscriber_events, self.admin.site.store, found.id)
        context = {
            "subscriber": found,
            "events": events,
            "done": request.query_params.get("done", ""),
            "actions": self._actions(found),
        }
        return self.admin.render(request, "subscriber", context, operator=operator)

    def _actions(self, subscriber: Subscriber) -> list[str]:
        if subscriber.status == SubscriberStatus.FORGOTTEN:
            return []
        allowed = ["digests", "forget"]
        if subscriber.status == SubscriberStatus.PENDING:
            allowed.insert(0, "resend")
        if subscriber.status not in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED):
            allowed.insert(-1, "unsubscribe")
        return allowed

    def _action(self, request: Request, subscriber: Subscriber) -> str:
        action = str(request.path_params["action"])
        if action not in ACTIONS:
            raise PageError(404)
        if action not in self._actions(subscriber):
            raise PageError(409)
        return action

    async def confirm_page(self, request: Request, operator: Operator) -> Response:
        found = await self._subscriber(request)
        action = self._action(request, found)
        context = {"subscriber": found, "action": action, "digest_names": self.digests}
        return self.admin.render(request, "subscriber-action", context, operator=operator)

    async def act(self, request: Request, operator: Operator) -> Response:
        fields = await require_genuine_form(self.admin, request, operator)
        found = await self._subscriber(request)
        action = self._action(request, found)
        site, who = self.admin.site, operator.user.name
        background = None
        try:
            if action == "unsubscribe":
                await run_in_threadpool(
                    unsubscribe_by_operator, site.store, found.id, who, site.now()
                )
            elif action == "forget":
                await run_in_threadpool(
                    forget_by_operator, site.store, site.secret, found.id, who, site.now()
                )
            elif action == "digests":
                await run_in_threadpool(
                    change_digests_by_operator,
                    site.store,
                    found.id,
                    fields.get("digest", []),
                    self.digests,
                    who,
                    site.now(),
                )
            else:
                pending = await run_in_threadpool(
                    claim_confirmation_resend, site.store, found.id, who, site.now()
                )
                background = BackgroundTask(Subscriptions(site).send_confirmation, pending)
        except SubscriberError as error:
            raise PageError(400, str(error)) from None
        response = RedirectResponse(
            self.admin.url(f"subscribers/{found.id}?done={action}"),
            status_code=303,
            background=background,
        )
        response.headers["cache-control"] = PRIVATE
        return response


def _pages(total: int, page: int, shown: int) -> int:
    """How many pages a search has; past `FOUND_COUNT_LIMIT` it is not counted to the end:
    the pages so far, and one more while each is full."""
    if total > FOUND_COUNT_LIMIT:
        return page + (shown == PAGE_SIZE)
    return max(1, math.ceil(total / PAGE_SIZE))
