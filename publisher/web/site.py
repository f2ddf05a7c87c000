"""What every page needs: the config, the store, the signing secret, the clock and the templates.

Each URL the site hands out (in feeds, digests and confirmation mails) is served at its path:
the subscription pages under `[web] base_url`, feeds under `[feeds] url`, editions under
`[archive] url`, media under `[content] media_url`, articles at `[site] article_url` and
categories at `categories/<slug>/` under the site URL. Put the app behind a proxy that keeps
paths as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import jinja2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from publisher.clock import Clock
from publisher.config import Config
from publisher.content.imagesize import pixel_size
from publisher.i18n.templating import environment_translations
from publisher.mail.render import template_environment
from publisher.site.feeds import FILE_NAMES, MEDIA_TYPES
from publisher.store.database import Store
from publisher.urls import category_url, folder_url
from publisher.web.navigation import SLUG, path_of, site_urls
from publisher.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    csrf_cookie_is_well_formed,
    csrf_field,
    csrf_field_is_valid,
    new_csrf_cookie,
    set_csrf_cookie,
)

STYLESHEET = "web/site.css"
# Every page or answer that carries a token (a form, a confirm or unsubscribe link).
NO_STORE = "private, no-store"
# Why a request failed, as the error template words it, by HTTP status.
ERROR_REASONS = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    410: "expired_link",
    413: "too_large",
    429: "rate_limited",
    500: "server_error",
}


class PageError(Exception):
    """A request that cannot be served: answered with the error page for `status` and `reason`."""

    def __init__(
        self, status: int, reason: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {reason or ''}".strip())
        self.status, self.reason, self.headers = status, reason, dict(headers or {})


@dataclass(frozen=True, slots=True)
class RoutePaths:
    """Where each page is served: paths of the URLs in the config, as Starlette route patterns."""

    home: str
    subscribe: str
    confirm: str
    unsubscribe: str
    stylesheet: str
    feeds: str
    archive: str
    media: str
    article: str
    category: str


def route_paths(config: Config) -> RoutePaths:
    """The route of every page, from the URLs the config gives."""
    home = _path(config.web_base_url)
    article_pattern = urljoin(config.site.url, config.site.article_url)
    return RoutePaths(
        home=home,
        subscribe=f"{home}subscribe",
        confirm=f"{home}confirm/{{token}}",
        unsubscribe=f"{home}unsubscribe/{{token}}",
        stylesheet=f"{home}static/site.css",
        feeds=_path(config.feeds_url),
        archive=_path(config.archive_url),
        media=_path(config.media_url),
        article=_path(article_pattern),
        category=_path(category_url(config.site.url, SLUG)),
    )


def _path(url: str) -> str:
    path = urlsplit(url).path or "/"
    return path if path.endswith("/") or "{" in path else path + "/"


@dataclass(frozen=True, slots=True)
class FeedLink:
    """One feed file, for `<link rel="alternate">` and the links on a page."""

    kind: str
    media_type: str
    url: str


def feed_links(config: Config, folder: str = "") -> list[FeedLink]:
    """The site's feeds, or those of the category or author in `folder`, in the formats set."""
    base = folder_url(config.feeds_url, folder)
    return [
        FeedLink(kind, MEDIA_TYPES[kind], urljoin(base, FILE_NAMES[kind]))
        for kind in config.feeds.formats
    ]


def http_url(value: object) -> str:
    """`value` if it is an absolute http(s) URL, else "": a template filter for href and src."""
    if not isinstance(value, str):
        return ""
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else ""


def page_environment(config: Config, language: str) -> jinja2.Environment:
    """The environment of the site's pages (and their mails) in `language`, with the web's
    own filters `http_url` and `url_path`."""
    environment = template_environment(config.templates_dir, language, config.locale_dir)
    environment.filters["http_url"] = http_url
    environment.filters["url_path"] = path_of
    return environment


@dataclass(frozen=True, slots=True)
class PageUrl:
    """The one part of a request's URL the templates read: its path."""

    path: str


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a template sees of the request when a page is rendered for the static site."""

    url: PageUrl


@dataclass(frozen=True, slots=True)
class FormToken:
    """A form's hidden token, and the browser cookie it is bound to (set again with the page)."""

    field: str
    cookie: str


class WebSite:
    """The config, store, secret, clock and templates, shared by every route."""

    def __init__(
        self,
        config: Config,
        store: Store,
        secret: bytes,
        clock: Clock,
        environ: Mapping[str, str],
    ) -> None:
        self.config, self.store, self.secret = config, store, secret
        self.clock, self.environ = clock, environ
        self.paths = route_paths(config)
        self.urls = site_urls(config)
        environment = page_environment(config, config.site.language)
        self.templates = Jinja2Templates(env=environment)
        self._environments = {config.site.language: environment}
        # For the few words built in Python (a listing's heading), in the site's language.
        self.translations = environment_translations(environment)
        self.base_context: dict[str, Any] = {
            "site": config.site,
            "zone": config.site.zone,
            "home_url": self.paths.home,
            # Absolute: a page from a static host posts to the server, as a served one does.
            "subscribe_url": f"{config.web_base_url}subscribe",
            "manage_url": f"{config.web_base_url}manage/",
            "stylesheet_url": self.paths.stylesheet,
            "feeds": feed_links(config),
            "digests": config.digests,
            "postal_address": config.mail.postal_address if config.mail else "",
            "urls": self.urls,
            "logo": config.logo,
            # Known before the logo loads, so the masthead does not jump.
            "logo_size": pixel_size(config.logo.path) if config.logo and config.logo.path else None,
            "icon": config.icon,
        }

    def environment_in(self, language: str) -> jinja2.Environment:
        """The pages' environment speaking `language`: an archived edition's banner speaks its
        digest's. One per language, made when first asked for."""
        environment = self._environments.get(language)
        if environment is None:
            environment = self._environments[language] = page_environment(self.config, language)
        return environment

    def now(self) -> datetime:
        return self.clock()

    def now_seconds(self) -> int:
        return int(self.clock().timestamp())

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> Response:
        """A page from `web/<name>.html.j2`."""
        return self.templates.TemplateResponse(
            request,
            f"web/{name}.html.j2",
            {**self.base_context, **(context or {})},
            status_code=status,
            headers=headers,
            background=background,
        )

    def page_bytes(self, path: str, name: str, context: Mapping[str, Any] | None = None) -> bytes:
        """The bytes `render` answers a GET of `path` with, rendered without a request: the
        static build writes the same page `serve` answers."""
        template = self.templates.env.get_template(f"web/{name}.html.j2")
        page = {**self.base_context, **(context or {}), "request": PageRequest(PageUrl(path))}
        return template.render(page).encode("utf-8")

    def render_form(
        self,
        request: Request,
        name: str,
        form: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
        token: FormToken | None = None,
    ) -> Response:
        """A page holding `form`, with its token (`token` or a new one) and cookie; never cached."""
        token = token or self.form_token(request, form)
        response = self.render(
            request,
            name,
            {**(context or {}), "csrf_field": CSRF_FIELD, "csrf_token": token.field},
            status=status,
            headers={"cache-control": NO_STORE},
        )
        # Set on every form page, so the cookie outlives the newest form's token.
        set_csrf_cookie(response, request, token.cookie)
        return response

    def error(
        self,
        request: Request,
        status: int,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The error page for `status`, worded for `reason` (by default the status's own)."""
        context = {"status": status, "reason": reason or ERROR_REASONS.get(status, "bad_request")}
        return self.render(
            request,
            "error",
            context,
            status=status,
            headers={"cache-control": NO_STORE, **(headers or {})},
        )

    def form_token(self, request: Request, form: str) -> FormToken:
        """The hidden token for `form`, bound to the browser's cookie (a new one if it has none)."""
        cookie = request.cookies.get(CSRF_COOKIE)
        if cookie is None or not csrf_cookie_is_well_formed(cookie):
            cookie = new_csrf_cookie()
        return FormToken(csrf_field(self.secret, form, cookie, self.now_seconds()), cookie)

    def form_is_genuine(self, request: Request, form: str, field: str) -> bool:
        """Whether a posted form's token was made here, for this form and this browser."""
        cookie = request.cookies.get(CSRF_COOKIE)
        return csrf_field_is_valid(self.secret, form, cookie, field, self.now_seconds())

    def stylesheet(self) -> bytes:
        """The pages' stylesheet: the site's own `web/site.css`, else the bundled one."""
        loader = self.templates.env.loader
        assert loader is not None
        source, _, _ = loader.get_source(self.templates.env, STYLESHEET)
        return source.encode("utf-8")
