"""The static site rendered by the web app itself, in-process: the same pages `serve` answers.

Each page is asked of the app as a GET from the site's own host (so with the site's URLs, never
a local preview's), with no network and no server; `publisher.site.static` crawls and writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.site.static import (
    Fetched,
    StaticReport,
    output_fingerprint,
    public_files,
    static_inputs_fingerprint,
    write_static_site,
)
from publisher.store.database import open_store, put_setting, setting
from publisher.web.app import create_app

_STATIC_SETTING = "static_site_fingerprint"  # the inputs and the output files of the last build


def build_static_site(
    config: Config, environ: Mapping[str, str], clock: Clock = system_clock
) -> StaticReport:
    """Write every public page of the site under `[site] output` (`publisher build`).

    When nothing a page shows changed since the last static build (articles, profiles,
    editions, config, templates, media, catalogs) and the output is as that build left it,
    nothing is rendered: a site of thousands of pages costs a few reads and stats.
    """
    if config.site_dir is None:
        return StaticReport(None, written=0, unchanged=0, removed=0)
    with open_store(config.store_url) as store, store.read() as connection:
        inputs = static_inputs_fingerprint(connection, config)
        previous = setting(connection, _STATIC_SETTING)
    output = config.site_dir
    files, count = output_fingerprint(output)
    if inputs is not None and previous == f"{inputs} {files}":
        return StaticReport(output, written=0, unchanged=count, removed=0)
    with _InProcess(create_app(config, environ, clock, snapshot=True), config.site.url) as app:
        report = write_static_site(output, public_files(config, app.get))
    if inputs is not None:
        with open_store(config.store_url) as store, store.transaction() as connection:
            fingerprint = output_fingerprint(output)[0]
            put_setting(connection, _STATIC_SETTING, f"{inputs} {fingerprint}")
    return report


class _InProcess:
    """An ASGI app driven from synchronous code: its lifespan, then one GET at a time."""

    def __init__(self, app: ASGIApp, site_url: str) -> None:
        self.app = app
        parts = urlsplit(site_url)
        self.scheme, self.host = parts.scheme, parts.netloc
        self.loop = asyncio.new_event_loop()
        self.lifespan: asyncio.Queue[Message] = asyncio.Queue()
        self.lifespan_task: asyncio.Task[None] | None = None

    def __enter__(self) -> _InProcess:
        self.loop.run_until_complete(self._start())
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.loop.run_until_complete(self._stop())
        finally:
            self.loop.close()

    async def _start(self) -> None:
        answers: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

        async def send(message: Message) -> None:
            await answers.put(message)

        self.lifespan_task = asyncio.ensure_future(self.app(scope, self.lifespan.get, send))
        await self.lifespan.put({"type": "lifespan.startup"})
        self._answers = answers
        started = await answers.get()
        if started["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the web app did not start: {started.get('message', '')}")

    async def _stop(self) -> None:
        await self.lifespan.put({"type": "lifespan.shutdown"})
        await self._answers.get()
        if self.lifespan_task is not None:
            await self.lifespan_task

    def get(self, path: str) -> Fetched:
        """The app's answer to `GET path`."""
        return self.loop.run_until_complete(self._get(path))

    async def _get(self, path: str) -> Fetched:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": self.scheme,
            "path": path,
            "raw_path": path.encode("utf-8"),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", self.host.encode("ascii"))],
            "client": None,
            "server": None,
            "state": {},
        }
        status, media_type, chunks = 500, "", []
        requested, finished = False, asyncio.Event()

        async def receive() -> Message:
            # The request once; then, as a client that leaves when the answer is whole.
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, media_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers", []))
                media_type = headers.get(b"content-type", b"").decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    finished.set()

        await self.app(scope, receive, send)
        return Fetched(status, media_type.split(";")[0].strip(), b"".join(chunks))
