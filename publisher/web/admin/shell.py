"""What every dashboard page shares: who is signed in, the form token, rendering, headers.

Every page checks its session before anything else: without one the answer is the sign-in
form with status 401, never data. Every POST checks a form token bound to the session (the
signed double submit of `web.security`, keyed by the session id instead of a cookie of its
own), so another site cannot post as the signed-in operator. Answers are `private, no-store`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from publisher.operators.accounts import admin_enabled
from publisher.operators.sessions import session_id_from_cookie, session_user
from publisher.store.operators import AdminUser
from publisher.web.security import CSRF_FIELD, csrf_field, csrf_field_is_valid
from publisher.web.site import PageError, WebSite

SESSION_COOKIE = "publisher_admin"
PRIVATE = "private, no-store"
ADMIN_FORM = "admin"
# The dashboard's own stylesheet and one script (live ledger counts); nothing from elsewhere.
ADMIN_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ADMIN_HEADERS = {"cache-control": PRIVATE, "content-security-policy": ADMIN_POLICY}
MAX_ID = 2**31 - 1
_ID = re.compile(r"[1-9][0-9]{0,9}")


def record_id(text: object) -> int:
    """A row id from a path or form, or PageError 404: no id reaches the store unchecked."""
    if not isinstance(text, str) or not _ID.fullmatch(text) or int(text) > MAX_ID:
        raise PageError(404)
    return int(text)


@dataclass(frozen=True, slots=True)
class Operator:
    """The signed-in user, and the session their form tokens are bound to."""

    user: AdminUser
    session_id: str


class AdminSite:
    """The dashboard's share of the web site: its paths, its sessions and its templates."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self.config = site.config
        self.prefix = f"{site.paths.home}admin/"
        self.api_prefix = f"{site.paths.home}api/v1/"

    def url(self, path: str = "") -> str:
        """The path of a dashboard page, `path` relative to `/admin/`."""
        return self.prefix + path

    async def enabled(self) -> bool:
        """Whether the dashboard and the API answer at all (`[admin] enabled`)."""
        return await run_in_threadpool(admin_enabled, self.config, self.site.store)

    async def operator(self, request: Request) -> Operator | None:
        """Who is signed in on this request, or None."""
        session_id = session_id_from_cookie(self.site.secret, request.cookies.get(SESSION_COOKIE))
        if session_id is None:
            return None
        user = await run_in_threadpool(session_user, self.site.store, session_id, self.site.now())
        return None if user is None else Operator(user, session_id)

    def form_token(self, operator: Operator) -> str:
        """The hidden field every dashboard form carries, bound to the session."""
        return csrf_field(
            self.site.secret, ADMIN_FORM, operator.session_id, self.site.now_seconds()
        )

    def form_is_genuine(self, operator: Operator, field: str) -> bool:
        """Whether a posted form's token was made for this session."""
        return csrf_field_is_valid(
            self.site.secret, ADMIN_FORM, operator.session_id, field, self.site.now_seconds()
        )

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
        operator: Operator | None = None,
    ) -> Response:
        """A dashboard page from `admin/<name>.html.j2`, never cached."""
        extra = {
            "admin": self,
            "operator": operator,
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.form_token(operator) if operator else "",
            "nav": NAVIGATION,
        }
        return self.site.templates.TemplateResponse(
            request,
            f"admin/{name}.html.j2",
            {**self.site.base_context, **extra, **(context or {})},
            status_code=status,
            headers=ADMIN_HEADERS,
        )

    def error(
        self, request: Request, error: PageError, operator: Operator | None = None
    ) -> Response:
        """The dashboard's error page for a refused request."""
        context = {"status": error.status, "reason": error.reason or ""}
        response = self.render(request, "error", context, error.status, operator)
        response.headers.update(error.headers)
        return response


NAVIGATION = (
    ("", "Overview"),
    ("subscribers", "Subscribers"),
    ("editions", "Editions"),
    ("articles", "Articles"),
    ("sources", "Sources"),
)

Page = Callable[[Request, Operator], Awaitable[Response]]


def signed_in(
    admin: AdminSite, login_page: Callable[[Request], Awaitable[Response]]
) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """Wrap a page: 404 while the dashboard is off, the sign-in form (401) without a session,
    the dashboard's error page for a PageError."""

    def wrap(page: Page) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(page)
        async def guarded(request: Request) -> Response:
            if not await admin.enabled():
                return admin.site.error(request, 404)
            operator = await admin.operator(request)
            if operator is None:
                return await login_page(request)
            try:
                return await page(request, operator)
            except PageError as error:
                return admin.error(request, error, operator)

        return guarded

    return wrap
