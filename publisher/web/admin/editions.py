"""The dashboard's edition pages: the list, one edition (its ledger refreshing while a send
runs, failures with their reasons, queued sends), its preview, and the actions the CLI has:
send, send again what was uncertain or failed temporarily, send a test. Every send is queued
for the daemon or the next `publisher send`: the web process never sends an edition itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from publisher.audience.subscribers import SubscriberError
from publisher.mail.delivery.requests import queue_send, queue_test_send
from publisher.mail.delivery.send import SendOptions
from publisher.mail.editions import Edition, edition_by_id
from publisher.status import LEDGER_KINDS, OPENS_CAVEAT
from publisher.store.analytics import EditionAnalytics, edition_analytics
from publisher.store.dashboard import EditionRow, delivery_problems, edition_rows
from publisher.store.sendrequests import edition_send_requests
from publisher.web.admin.charts import Chart, bar_svg
from publisher.web.admin.login import require_genuine_form
from publisher.web.admin.shell import ADMIN_HEADERS, PRIVATE, AdminSite, Operator, Page, record_id
from publisher.web.security import ARCHIVE_POLICY
from publisher.web.site import PageError
from publisher.web.subscription import first

LIST_SIZE = 50
RETRIES = {
    "": SendOptions(),
    "uncertain": SendOptions(retry_uncertain=True),
    "failed": SendOptions(retry_failed=True),
}


def clicks_chart(found: EditionAnalytics) -> tuple[Chart, object]:
    """Readers who clicked each link (link scanners left out), as bars beside a table."""
    chart = Chart(
        "clicks",
        "Readers who clicked, per link",
        tuple(f"link {link.link + 1}" for link in found.links),
        (("readers", tuple(link.unique for link in found.links)),),
    )
    return chart, bar_svg(chart)


class EditionPages:
    """`/admin/editions`, one edition, its live counts, preview and queued sends."""

    def __init__(self, admin: AdminSite) -> None:
        self.admin = admin

    def routes(
        self, guard: Callable[[Page], Callable[[Request], Awaitable[Response]]]
    ) -> list[Route]:
        url = self.admin.url
        return [
            Route(url("editions"), guard(self.list_page), methods=["GET"]),
            Route(url("editions/{id}"), guard(self.edition_page), methods=["GET"]),
            Route(url("editions/{id}/ledger.json"), guard(self.ledger), methods=["GET"]),
            Route(url("editions/{id}/preview"), guard(self.preview), methods=["GET"]),
            Route(url("editions/{id}/send"), guard(self.send), methods=["POST"]),
            Route(url("editions/{id}/test"), guard(self.send_test), methods=["POST"]),
        ]

    def _tracks(self, digest: str) -> bool:
        return any(
            each.name == digest and (each.track_clicks or each.track_opens)
            for each in self.admin.config.digests
        )

    def _row(self, edition_id: int) -> EditionRow:
        with self.admin.site.store.transaction() as connection:
            found = edition_rows(connection, 1, edition_id=edition_id)
        if not found:
            raise PageError(404)
        return found[0]

    async def list_page(self, request: Request, operator: Operator) -> Response:
        before = request.query_params.get("before")
        before_id = record_id(before) if before else None

        def read() -> list[EditionRow]:
            with self.admin.site.store.transaction() as connection:
                return edition_rows(connection, LIST_SIZE, before_id=before_id)

        rows = await run_in_threadpool(read)
        context = {"rows": rows, "ledger_kinds": LEDGER_KINDS, "page_size": LIST_SIZE}
        return self.admin.render(request, "editions", context, operator=operator)

    async def edition_page(self, request: Request, operator: Operator) -> Response:
        edition_id = record_id(request.path_params["id"])

        def read() -> dict[str, object]:
            row = self._row(edition_id)
            with self.admin.site.store.transaction() as connection:
                problems = delivery_problems(connection, edition_id)
                requests = edition_send_requests(connection, edition_id)
                found = edition_analytics(connection, edition_id)
            tracked = found.links or found.opens_unique or self._tracks(row.digest)
            return {
                "edition": row,
                "problems": problems,
                "requests": requests,
                "analytics": found if tracked else None,
                "clicks_chart": clicks_chart(found) if found.links else None,
                "opens_caveat": OPENS_CAVEAT,
            }

        context = await run_in_threadpool(read)
        context |= {"ledger_kinds": LEDGER_KINDS, "queued": request.query_params.get("queued", "")}
        return self.admin.render(request, "edition", context, operator=operator)

    async def ledger(self, request: Request, operator: Operator) -> Response:
        row = await run_in_threadpool(self._row, record_id(request.path_params["id"]))
        ledger = {kind: row.ledger.get(kind, 0) for kind in LEDGER_KINDS}
        running = row.delivery_started_at is not None and row.delivered_at is None
        return JSONResponse({"ledger": ledger, "running": running}, headers=ADMIN_HEADERS)

    async def preview(self, request: Request, operator: Operator) -> Response:
        edition_id = record_id(request.path_params["id"])
        edition = await run_in_threadpool(self._edition, edition_id)
        # The archive copy: the edition as sent, without anyone's name or links.
        return HTMLResponse(
            edition.archive_html,
            headers={"cache-control": PRIVATE, "content-security-policy": ARCHIVE_POLICY},
        )

    def _edition(self, edition_id: int) -> Edition:
        from publisher.errors import PublisherError

        try:
            return edition_by_id(self.admin.site.store, edition_id)
        except PublisherError:
            raise PageError(404) from None

    async def send(self, request: Request, operator: Operator) -> Response:
        fields = await require_genuine_form(self.admin, request, operator)
        edition_id = record_id(request.path_params["id"])
        options = RETRIES.get(first(fields, "retry"))
        if options is None:
            raise PageError(400)
        await run_in_threadpool(self._edition, edition_id)
        site = self.admin.site
        queued = await run_in_threadpool(
            queue_send, site.store, edition_id, options, operator.user.name, site.now()
        )
        return self._back(edition_id, queued.id)

    async def send_test(self, request: Request, operator: Operator) -> Response:
        fields = await require_genuine_form(self.admin, request, operator)
        edition_id = record_id(request.path_params["id"])
        await run_in_threadpool(self._edition, edition_id)
        site = self.admin.site
        try:
            queued = await run_in_threadpool(
                queue_test_send,
                site.store,
                edition_id,
                first(fields, "address")[:320],
                operator.user.name,
                site.now(),
            )
        except SubscriberError:
            raise PageError(400, "bad address") from None
        return self._back(edition_id, queued.id)

    def _back(self, edition_id: int, request_id: int) -> Response:
        response = RedirectResponse(
            self.admin.url(f"editions/{edition_id}?queued={request_id}"), status_code=303
        )
        response.headers["cache-control"] = PRIVATE
        return response
