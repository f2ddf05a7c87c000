"""A real HTTP server on loopback that serves upstream feeds the way the tests set them up."""

from __future__ import annotations

import contextlib
import gzip
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One answer: status, headers and body (or chunks, streamed without a length)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: Callable[[], Iterator[bytes]] | None = None
    hold: threading.Event | None = None  # wait for this before answering: a slow server


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]


Route = Callable[[dict[str, str]], Reply]


class FeedServer:
    """Serves routes on 127.0.0.1 (or another loopback address) on a free port, in a thread."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                with server.lock:
                    server.seen.append(Seen(self.path, headers))
                route = server.routes.get(self.path)
                reply = route(headers) if route else Reply(404, body=b"not found")
                if reply.hold is not None:
                    reply.hold.wait(timeout=30)
                # The client may have given up (a timeout, a size cap), as it should.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.chunks is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.chunks is not None:
                    for chunk in reply.chunks():
                        self.wfile.write(chunk)
                else:
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> None:
        """Serve `body` at `path` with an ETag, answering 304 when the client sends it back."""
        self.routes[path] = conditional(body, content_type)

    def requests_for(self, path: str) -> list[Seen]:
        with self.lock:
            return [seen for seen in self.seen if seen.path == path]

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def conditional(body: bytes, content_type: str, etag: str | None = None) -> Route:
    """A route answering 304 to a matching If-None-Match, else the body gzipped if asked."""
    tag = etag or f'"{abs(hash(body)):x}"'

    def route(headers: dict[str, str]) -> Reply:
        if headers.get("if-none-match") == tag:
            return Reply(304, {"ETag": tag})
        reply_headers = {"Content-Type": content_type, "ETag": tag}
        if "gzip" in headers.get("accept-encoding", ""):
            return Reply(200, reply_headers | {"Content-Encoding": "gzip"}, gzip.compress(body))
        return Reply(200, reply_headers, body)

    return route


def fixed(reply: Reply) -> Route:
    """A route always giving the same reply."""
    return lambda _headers: reply
