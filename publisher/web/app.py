"""The subscription web app: `create_app` builds it from a config, `serve` runs it under uvicorn."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from publisher.audience.tokens import load_secret
from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.store.database import open_store
from publisher.web.admin.pages import AdminPages
from publisher.web.api.endpoints import Api
from publisher.web.archive import ArchivePages
from publisher.web.articles import ArticlePages
from publisher.web.authors import AuthorPages
from publisher.web.crawlers import CrawlerFiles
from publisher.web.files import FileRoutes
from publisher.web.icons import Favicon
from publisher.web.listings import ListingPages
from publisher.web.preferences import PreferencePages
from publisher.web.preview import LocalPreview
from publisher.web.security import MAX_BODY_BYTES, BodyLimit, SecurityHeaders
from publisher.web.site import PageError, WebSite
from publisher.web.subscription import Subscriptions
from publisher.web.tracking import TrackedLinks
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
    preview: bool = False,
) -> Starlette:
    """The web app for a site: pages, sign-up, confirm and unsubscribe, feeds, archive, media.

    The signing key comes from `[web] secret_env` in `environ` (else the key file beside the
    config), the same key `publisher send` signs unsubscribe links with. The store is opened
    (and its schema brought up to date) here, and closed when the app shuts down. With
    `preview`, every page links to this server (see `web.preview`); without, only pages asked
    for by a loopback Host do.
    """
    secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)
    store = open_store(config.store_url)
    site = WebSite(config, store, secret, clock, environ)
    webhooks = Webhooks(site, sns_certificates)
    routes = [
        # The dashboard first: no page of the site can take a path under /admin/.
        *AdminPages(site).routes(),
        *Api(site).routes(),
        *TrackedLinks(site).routes(),
        # The site's own pages first: no article URL pattern can take their paths.
        *ArchivePages(site).routes(),
        *ListingPages(site).routes(),
        *CrawlerFiles(site).routes(),
        *Favicon(site).routes(),
        *FileRoutes(site).routes(),
        *Subscriptions(site).routes(),
        *PreferencePages(site).routes(),
        *AuthorPages(site).routes(),
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
            Middleware(LocalPreview, site_urls=public_urls(config), always=preview),
            Middleware(
                BodyLimit,
                limit=MAX_BODY_BYTES,
                prefix_limits={webhooks.path: MAX_WEBHOOK_BODY},
            ),
        ],
    )
    # The app never redirects, so no answer can send a reader elsewhere.
    app.router.redirect_slashes = False
    return app


def public_urls(config: Config) -> tuple[str, ...]:
    """The URLs the site's pages, feeds, editions and media are published under."""
    return (
        config.site.url,
        config.web_base_url,
        config.feeds_url,
        config.archive_url,
        config.media_url,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, where SIGTERM and SIGINT are a clean stop: exit status 0.

    uvicorn raises a signal again once it has shut down, so the process ends by it (status
    -15, or KeyboardInterrupt); a stop that was asked for is not a failure here.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stops = (signal.SIGINT, signal.SIGTERM)
        originals = {stop: signal.signal(stop, self.handle_exit) for stop in stops}
        try:
            yield
        finally:
            for stop, handler in originals.items():
                signal.signal(stop, handler)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on `host` and `port` (0: any free port); PublisherError if it cannot."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, protocol)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(2048)
        except OSError:
            listener.close()
            raise
    except OSError as error:
        raise PublisherError(f"cannot listen on {host} port {port}: {error}") from None
    return listener


def socket_url(listener: socket.socket) -> str:
    """The http:// URL a listening socket answers at."""
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    config: Config,
    host: str | None = None,
    port: int | None = None,
    environ: Mapping[str, str] | None = None,
    announce: Callable[[str], None] | None = None,
    preview: bool = False,
) -> None:
    """Run the web app under uvicorn until SIGTERM or SIGINT (`publisher serve`).

    `host` and `port` default to `[web] host` and `port`; port 0 takes any free port.
    `announce` is told the URL once the socket listens. X-Forwarded-For and -Proto are
    believed only from `[web] trusted_proxies`. `preview`: every page links to this server.
    """
    app = create_app(config, os.environ if environ is None else environ, preview=preview)
    listener = listening_socket(host or config.web.host, config.web.port if port is None else port)
    if announce is not None:
        announce(socket_url(listener))
    proxies = list(config.web.trusted_proxies)
    server = _Server(
        uvicorn.Config(
            app,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
            server_header=False,
            log_config=None,
        )
    )
    with listener:
        server.run(sockets=[listener])
