"""The dashboard's routes: sign-in, the overview and every section, and its static files."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from publisher.status import site_status, status_lines
from publisher.templates import BUNDLED_TEMPLATES
from publisher.web.admin.login import Login
from publisher.web.admin.shell import AdminSite, Operator, signed_in
from publisher.web.site import WebSite

STATIC_CACHING = "public, max-age=3600"


class AdminPages:
    """Every route of the dashboard."""

    def __init__(self, site: WebSite) -> None:
        self.admin = AdminSite(site)
        self.login = Login(self.admin)

    def routes(self) -> list[BaseRoute]:
        admin = self.admin
        guard = signed_in(admin, self.login.login_required)
        home = admin.site.paths.home
        return [
            Route(f"{home}static/admin.css", self.stylesheet, methods=["GET"]),
            *self.login.routes(),
            Route(admin.url(), guard(self.overview), methods=["GET"]),
        ]

    async def stylesheet(self, request: Request) -> Response:
        text = (BUNDLED_TEMPLATES / "admin" / "admin.css").read_bytes()
        return Response(text, media_type="text/css", headers={"cache-control": STATIC_CACHING})

    async def overview(self, request: Request, operator: Operator) -> Response:
        config, store = self.admin.config, self.admin.site.store
        status = await run_in_threadpool(site_status, config, store)
        context = {"lines": status_lines(status, config.site.zone)}
        return self.admin.render(request, "overview", context, operator=operator)
