"""The subscription web app: `create_app` builds it from a config, `serve` runs it under uvicorn."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from publisher.config import Config
from publisher.gather import Clock, system_clock
from publisher.store import open_store
from publisher.tokens import load_secret
from publisher.web.articles import ArticlePages
from publisher.web.files import FileRoutes
from publisher.web.preferences import PreferencePages
from publisher.web.security import MAX_BODY_BYTES, BodyLimit, SecurityHeaders
from publisher.web.site import PageError, WebSite
from publisher.web.subscription import Subscriptions
from publisher.web.webhooks import MAX_WEBHOOK_BODY, SnsCertificates, Webhooks

log = logging.getLogger(__name__)


class _WebApp(Starlette):
    """Starlette with the security headers outermost, so even its own error answers carry them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    config: Config,
    environ: Mapping[str, str],
    clock: Clock = system_clock,
    sns_certificates: SnsCertificates | None = None,
) -> Starlette:
    """The web app for a site: pages, sign-up, confirm and unsubscribe, feeds, archive, media.

    The signing key comes from `[web] secret_env` in `environ` (else the key file beside the
    config), the same key `publisher send` signs unsubscribe links with. The store is opened
    (and its schema brought up to date) here, and closed when the app shuts down.
    """
    secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)
    store = open_store(config.store_url)
    site = WebSite(config, store, secret, clock, environ)
    webhooks = Webhooks(site, sns_certificates)
    routes = [
        *FileRoutes(site).routes(),
        *Subscriptions(site).routes(),
        *PreferencePages(site).routes(),
        *ArticlePages(site).routes(),
        *webhooks.routes(),
    ]

    async def page_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, PageError)
        return site.error(request, error.status, error.reason, error.headers)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return site.error(request, error.status_code, headers=error.headers)

    async def server_error(request: Request, error: Exception) -> Response:
        return site.error(request, 500)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = _WebApp(
        routes=routes,
        exception_handlers={PageError: page_error, HTTPException: http_error, 500: server_error},
        lifespan=lifespan,
        middleware=[
            Middleware(
                BodyLimit,
                limit=MAX_BODY_BYTES,
                prefix_limits={webhooks.path: MAX_WEBHOOK_BODY},
            )
        ],
    )
    # The app never redirects, so no answer can send a reader elsewhere.
    app.router.redirect_slashes = False
    return app


def serve(
    config: Config,
    host: str | None = None,
    port: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Run the web app under uvicorn until interrupted (`publisher serve`).

    `host` and `port` default to `[web] host` and `port`. X-Forwarded-For and -Proto are
    believed only from `[web] trusted_proxies`.
    """
    app = create_app(config, os.environ if environ is None else environ)
    proxies = list(config.web.trusted_proxies)
    uvicorn.run(
        app,
        host=host or config.web.host,
        port=port or config.web.port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        server_header=False,
        log_config=None,
    )
