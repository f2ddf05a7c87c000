"""Signing in and out of the dashboard.

The sign-in form is an ordinary site form (its token bound to the browser's form cookie);
each attempt counts against `[admin] login_limit` per client in the store, so every process
shares the limit. A successful sign-in starts a session in the store and sets its signed
cookie: HttpOnly, SameSite=Strict, Secure under https, scoped to `/admin/`, lasting
`[admin] session_lifetime`.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from publisher.operators.accounts import MAX_PASSWORD_LENGTH, authenticate
from publisher.operators.sessions import cookie_value, end_session, start_session
from publisher.web.admin.shell import (
    PRIVATE,
    SESSION_COOKIE,
    AdminSite,
    Operator,
)
from publisher.web.ratelimit import StoredRateLimit
from publisher.web.security import (
    CSRF_FIELD,
    client_key,
    set_csrf_cookie,
)
from publisher.web.site import PageError
from publisher.web.subscription import first, read_form

LOGIN_FORM = "admin-login"
# Where a sign-in may send the browser on: a dashboard path of plain characters, nothing else.
_NEXT = re.compile(r"[A-Za-z0-9/_.?=&%-]{0,512}")


class Login:
    """`/admin/login` (the form and its POST) and `/admin/logout`."""

    def __init__(self, admin: AdminSite) -> None:
        self.admin = admin
        site = admin.site
        limits = site.config.admin
        self.limit = StoredRateLimit(
            site.store, LOGIN_FORM, limits.login_limit, limits.login_window, site.now
        )

    def routes(self) -> list[Route]:
        return [
            Route(self.admin.url("login"), self.form, methods=["GET"]),
            Route(self.admin.url("login"), self.sign_in, methods=["POST"]),
            Route(self.admin.url("logout"), self.sign_out, methods=["POST"]),
        ]

    def _next(self, value: str) -> str:
        start = self.admin.url()
        if _NEXT.fullmatch(value) and value.startswith(start) and "//" not in value:
            return value
        return start

    async def form(self, request: Request) -> Response:
        if not await self.admin.enabled():
            return self.admin.site.error(request, 404)
        return self.login_page(request, status=200)

    async def login_required(self, request: Request) -> Response:
        """What a dashboard page answers without a session: the sign-in form, status 401."""
        return self.login_page(request, status=401, next_path=request.url.path)

    def login_page(
        self, request: Request, status: int, next_path: str = "", problem: str = ""
    ) -> Response:
        site = self.admin.site
        token = site.form_token(request, LOGIN_FORM)
        context = {
            "next_path": self._next(next_path),
            "problem": problem,
            "action": self.admin.url("login"),
            "csrf_token": token.field,
        }
        response = self.admin.render(request, "login", context, status)
        set_csrf_cookie(response, request, token.cookie)
        return response

    async def sign_in(self, request: Request) -> Response:
        admin, site = self.admin, self.admin.site
        if not await admin.enabled():
            return site.error(request, 404)
        client = client_key(request.client.host if request.client else None)
        decision = await run_in_threadpool(self.limit.check, client)
        if not decision.allowed:
            page = self.login_page(request, 429, problem="rate_limited")
            page.headers["retry-after"] = str(decision.retry_after)
            return page
        try:
            fields = await read_form(request)
        except PageError as error:
            return admin.error(request, error)
        if not site.form_is_genuine(request, LOGIN_FORM, first(fields, CSRF_FIELD)):
            return self.login_page(request, 403, first(fields, "next"), "form_expired")
        name = first(fields, "name")[:64]
        password = first(fields, "password")[:MAX_PASSWORD_LENGTH]
        user = await run_in_threadpool(authenticate, site.store, name, password, site.now())
        if user is None:
            return self.login_page(request, 401, first(fields, "next"), "wrong_password")
        lifetime = site.config.admin.session_lifetime
        session_id = await run_in_threadpool(start_session, site.store, user, site.now(), lifetime)
        response = RedirectResponse(self._next(first(fields, "next")), status_code=303)
        response.headers["cache-control"] = PRIVATE
        response.set_cookie(
            SESSION_COOKIE,
            cookie_value(site.secret, session_id),
            max_age=int(lifetime.total_seconds()),
            path=admin.url(),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        admin = self.admin
        operator = await admin.operator(request)
        if operator is None:
            return await self.login_required(request)
        try:
            await require_genuine_form(admin, request, operator)
        except PageError as error:
            return admin.error(request, error, operator)
        await run_in_threadpool(end_session, admin.site.store, operator.session_id)
        response = RedirectResponse(admin.url("login"), status_code=303)
        response.headers["cache-control"] = PRIVATE
        response.delete_cookie(SESSION_COOKIE, path=admin.url())
        return response


async def require_genuine_form(
    admin: AdminSite, request: Request, operator: Operator
) -> dict[str, list[str]]:
    """A posted dashboard form's fields; PageError 403 unless its token is this session's."""
    fields = await read_form(request)
    if not admin.form_is_genuine(operator, first(fields, CSRF_FIELD)):
        raise PageError(403, "form_expired")
    return fields
