"""Polling N upstream feeds on a loopback server: all answering 304, and all with new items.

Usage: python benchmarks/sources_poll.py [--sources 500] [--items 20] [--concurrency 8]

The server runs in a child process, so the CPU time printed is publisher's alone. Passes:
prime (every feed empty, remembered with its ETag), new items (each feed gains `--items`
items: fetched, parsed, sanitized and stored), then unchanged (every feed answers 304).
It is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from publisher.config import config_from_mapping
from publisher.sources.poll import PollReport, poll_sources
from publisher.store.database import open_store

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def feed(source: int, phase: int, items: int) -> bytes:
    entries = (
        ""
        if phase == 0
        else "".join(
            f"<item><title>Source {source} item {n}</title>"
            f"<link>https://s{source}.example.net/{n}</link><guid>s{source}-{n}</guid>"
            f"<pubDate>{format_datetime(START - timedelta(hours=n), usegmt=True)}</pubDate>"
            f"<description>&lt;p&gt;Item {n} of source {source}, with "
            f'&lt;a href="/more/{n}"&gt;a link&lt;/a&gt;.&lt;/p&gt;</description></item>'
            for n in range(items)
        )
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Source {source}</title><link>https://s{source}.example.net/</link>"
        f"<description>d</description>{entries}</channel></rss>"
    ).encode()


def serve(port: Any, phase: Synchronized[int], items: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            current = phase.value
            etag = f'"phase-{current}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            body = feed(int(self.path.strip("/").removeprefix("s")), current, items)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


def timed(label: str, run: Any) -> PollReport:
    wall, cpu = time.perf_counter(), time.process_time()
    report: PollReport = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:34} wall {wall:7.2f} s   cpu {cpu:7.2f} s   {report.summary()}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=500)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args()
    phase = multiprocessing.Value("i", 0)
    port = multiprocessing.Value("i", 0)
    child = multiprocessing.Process(target=serve, args=(port, phase, arguments.items), daemon=True)
    child.start()
    deadline = time.monotonic() + 30
    while port.value == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    now = [START]
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            sources = [
                {"name": f"s{n}", "url": f"http://127.0.0.1:{port.value}/s{n}", "every": "1m"}
                for n in range(arguments.sources)
            ]
            config = config_from_mapping(
                {
                    "site": {"title": "Bench", "url": "https://bench.example.org/", "author": "B"},
                    "store": {"url": "sqlite:///bench.db"},
                    "fetch": {"allow_private": True, "concurrency": arguments.concurrency},
                    "sources": sources,
                },
                root / "config.toml",
            )
            with open_store(config.store_url) as store:

                def poll() -> PollReport:
                    now[0] += timedelta(minutes=2)
                    return poll_sources(store, config, lambda: now[0])

                print(f"{arguments.sources} sources, concurrency {arguments.concurrency}")
                timed("prime (empty feeds, 200)", poll)
                phase.value = 1
                fresh = timed(f"{arguments.items} new items each (200)", poll)
                unchanged = timed("unchanged (all 304)", poll)
    finally:
        child.terminate()
    assert sum(o.new for o in fresh.outcomes) == arguments.sources * arguments.items
    assert [o.status for o in unchanged.outcomes] == ["not modified"] * arguments.sources


if __name__ == "__main__":
    main()
