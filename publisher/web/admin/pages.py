"""The dashboard's routes: sign-in, the overview, articles and sources, the static files; the
subscriber and edition pages live in their own modules."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from publisher.reports.overview import RATE_DAYS, Overview, overview
from publisher.sources.poll import source_states
from publisher.status import LEDGER_KINDS
from publisher.store.dashboard import article_counts, article_rows, make_source_due
from publisher.store.statuses import ArticleStatus
from publisher.templates import BUNDLED_TEMPLATES
from publisher.web.admin.charts import Chart, bar_svg, column_svg
from publisher.web.admin.editions import EditionPages
from publisher.web.admin.login import Login, require_genuine_form
from publisher.web.admin.shell import PRIVATE, AdminSite, Operator, signed_in
from publisher.web.admin.subscribers import SubscriberPages
from publisher.web.site import PageError, WebSite

STATIC_CACHING = "public, max-age=3600"
STATIC_FILES = {"admin.css": "text/css", "admin.js": "text/javascript"}


def overview_charts(found: Overview) -> list[tuple[Chart, object]]:
    """The overview's charts: subscribers by status, and growth per day."""
    by_status = Chart(
        "by-status",
        "Subscribers by status",
        tuple(found.status.subscribers),
        (("subscribers", tuple(found.status.subscribers.values())),),
    )
    growth = Chart(
        "growth",
        f"Growth per day, last {len(found.growth.days)} days",
        tuple(day.strftime("%d %b") for day in found.growth.days),
        tuple((series.name, series.values) for series in found.growth.series),
    )
    return [(by_status, bar_svg(by_status)), (growth, column_svg(growth))]


class AdminPages:
    """Every route of the dashboard."""

    def __init__(self, site: WebSite) -> None:
        self.admin = AdminSite(site)
        self.login = Login(self.admin)
        self.subscribers = SubscriberPages(self.admin)
        self.editions = EditionPages(self.admin)

    def routes(self) -> list[BaseRoute]:
        admin = self.admin
        guard = signed_in(admin, self.login.login_required)
        home = admin.site.paths.home
        return [
            *(
                Route(f"{home}static/{name}", self.static_file, methods=["GET"])
                for name in STATIC_FILES
            ),
            *self.login.routes(),
            Route(admin.url(), guard(self.overview), methods=["GET"]),
            Route(admin.url("articles"), guard(self.articles), methods=["GET"]),
            Route(admin.url("sources"), guard(self.sources), methods=["GET"]),
            Route(admin.url("sources/{name}/fetch"), guard(self.fetch_source), methods=["POST"]),
            *self.subscribers.routes(guard),
            *self.editions.routes(guard),
        ]

    async def static_file(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        body = (BUNDLED_TEMPLATES / "admin" / name).read_bytes()
        return Response(
            body, media_type=STATIC_FILES[name], headers={"cache-control": STATIC_CACHING}
        )

    async def overview(self, request: Request, operator: Operator) -> Response:
        config, store = self.admin.config, self.admin.site.store
        found = await run_in_threadpool(overview, config, store, self.admin.site.now())
        context = {
            "overview": found,
            "charts": overview_charts(found),
            "ledger_kinds": LEDGER_KINDS,
            "rate_days": RATE_DAYS,
        }
        return self.admin.render(request, "overview", context, operator=operator)

    async def articles(self, request: Request, operator: Operator) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in tuple(ArticleStatus):
            raise PageError(400)

        def read() -> tuple[object, object]:
            with self.admin.site.store.transaction() as connection:
                return article_rows(connection, status), article_counts(connection)

        rows, counts = await run_in_threadpool(read)
        context = {"articles": rows, "counts": counts, "status": status or ""}
        return self.admin.render(request, "articles", context, operator=operator)

    async def sources(self, request: Request, operator: Operator) -> Response:
        states = await run_in_threadpool(source_states, self.admin.site.store)
        context = {"sources": self.admin.config.sources, "states": states}
        return self.admin.render(request, "sources", context, operator=operator)

    async def fetch_source(self, request: Request, operator: Operator) -> Response:
        await require_genuine_form(self.admin, request, operator)
        name = str(request.path_params["name"])
        if name not in {source.name for source in self.admin.config.sources}:
            raise PageError(404)

        def make_due() -> bool:
            with self.admin.site.store.transaction() as connection:
                return make_source_due(connection, name, self.admin.site.now())

        await run_in_threadpool(make_due)
        response = RedirectResponse(self.admin.url("sources?due=" + name), status_code=303)
        response.headers["cache-control"] = PRIVATE
        return response
