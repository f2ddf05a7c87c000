"""Page latency while a send runs, and while another process holds the store's write lock.

Usage: python benchmarks/page_latency.py [--subscribers 10000] [--rate 100] [--seconds 20]

On a temp copy of the bundled sample site (gathered and built, a `daily` edition, `--subscribers`
confirmed readers of it), `publisher serve` runs in its own process and a client asks for the
home page, an article, a category page and a feed in turn, at a fixed rate (an open loop: each
request leaves at its planned time whatever the previous ones did, and its latency counts from
that planned time, so a stall shows in full). Measured in one run:
- idle: the latencies with nothing else running;
- sending: the same load while `publisher send` delivers the edition to every subscriber through
  a loopback SMTP sink (the one benchmarks/delivery.py uses), from its process start to its end;
- locked: one page asked for while another process holds `BEGIN IMMEDIATE` on the SQLite store.
The goals (issue 21): p99 while sending within 2x of the idle p99, no errors, and a page in
under 1 s while a writer holds the lock. It is a measurement, not a test: on this 2-core
machine the client, the server, the sender and the sink share the cores, so the figures are an
upper bound of what a reader waits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delivery import ENVIRON, Sink, make_site, running_sink

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Latencies:
    """What one load phase measured, in seconds."""

    seconds: list[float]
    errors: int

    def percentile(self, share: float) -> float:
        """The latency that `share` of the requests did not exceed."""
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self, name: str) -> str:
        """One printed line: count, median, p99, max and errors."""
        return (
            f"{name:<8} {len(self.seconds):>5} requests  p50 {self.percentile(0.5) * 1000:7.1f} ms"
            f"  p99 {self.percentile(0.99) * 1000:7.1f} ms  max {max(self.seconds) * 1000:7.1f} ms"
            f"  errors {self.errors}"
        )


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(root: Path, sink_port: int) -> None:
    """The site's config file, sending through the loopback sink."""
    text = (root / "config.toml").read_text(encoding="utf-8")
    text = text.replace("[mail]\n", '[mail]\ntransport = "smtp"\n', 1)
    text += (
        f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {sink_port}\nsecurity = "none"\n'
        '\n[delivery]\nretry_backoff = 0\nmax_age = "3650d"\n'
    )
    (root / "config.toml").write_text(text, encoding="utf-8")


def publisher(root: Path, *arguments: str) -> subprocess.Popen[bytes]:
    """`publisher ARGUMENTS` started in the site folder."""
    environ = os.environ | ENVIRON
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", *arguments],
        cwd=root,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finished(process: subprocess.Popen[bytes], what: str) -> None:
    """Wait for `process`; a failure stops the benchmark with its error."""
    _, error = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{what} failed: {error.decode(errors='replace')}")


@contextmanager
def serving(root: Path) -> Iterator[str]:
    """`publisher serve` on a free port; yields its base URL once it answers."""
    port = free_port()
    server = publisher(root, "serve", "--host", "127.0.0.1", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise SystemExit("publisher serve did not answer within 60 s")
        yield base
    finally:
        server.terminate()
        server.wait(30)


def page_paths(base: str) -> list[str]:
    """Home, the first article, the first category page and the main feed, as the home page
    links them."""
    home = httpx.get(base + "/", timeout=10).text
    paths = ["/"]
    categories = httpx.get(base + "/categories/", timeout=10).text
    for page, pattern in (
        (home, r'href="[^"]*?(/articles/[^"/]+/)"'),
        (categories, r'href="[^"]*?(/categories/[^"/]+/)"'),
    ):
        found = re.search(pattern, page)
        if found:
            paths.append(found.group(1))
    feed = re.search(r'type="application/(?:rss|atom)\+xml"[^>]*href="[^"]*?(/feeds/[^"]+)"', home)
    feed = feed or re.search(r'href="[^"]*?(/feeds/[^"]+)"[^>]*type="application/', home)
    if feed:
        paths.append(feed.group(1))
    for path in paths:
        httpx.get(base + path, timeout=10).raise_for_status()
    return paths


async def load(
    base: str,
    paths: list[str],
    rate: float,
    seconds: float | None,
    until: asyncio.Future[None] | None = None,
) -> Latencies:
    """Requests at `rate` a second over `paths`, for `seconds` or until `until` is done."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def one(path: str, planned: float) -> None:
            nonlocal errors
            try:
                response = await client.get(path)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.monotonic() - planned)

        start, sent, pending = time.monotonic(), 0, set()
        while True:
            planned = start + sent / rate
            if seconds is not None and planned - start >= seconds:
                break
            if until is not None and until.done():
                break
            await asyncio.sleep(max(0.0, planned - time.monotonic()))
            task = asyncio.create_task(one(paths[sent % len(paths)], planned))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.gather(*pending)
    return Latencies(latencies, errors)


async def load_during_send(
    root: Path, base: str, paths: list[str], rate: float
) -> tuple[Latencies, float]:
    """The load for as long as `publisher send` runs; returns it and the send's seconds."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    sender = publisher(root, "send", "--force")
    done = loop.run_in_executor(None, finished, sender, "publisher send")
    latencies = await load(base, paths, rate, None, until=done)  # type: ignore[arg-type]
    await done
    return latencies, time.monotonic() - started


def page_while_locked(root: Path, base: str, path: str) -> float:
    """Seconds one page takes while another process holds the store's write lock."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(10)\n",
            str(root / "publisher.db"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        started = time.monotonic()
        httpx.get(base + path, timeout=30).raise_for_status()
        return time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()


def sent_count(root: Path) -> int:
    """Deliveries the ledger holds as sent."""
    with sqlite3.connect(root / "publisher.db") as connection:
        return int(
            connection.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[
                0
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, running_sink(None) as sink:
        root = Path(folder)
        run(root, sink, arguments)


def run(root: Path, sink: Sink, arguments: argparse.Namespace) -> None:
    """Set the site up, then measure the three phases and print them beside the goals."""
    site = make_site(root, arguments.subscribers, arguments.subscribers)
    site.store.close()
    write_config(root, sink.port)
    finished(publisher(root, "build"), "publisher build")
    with serving(root) as base:
        paths = page_paths(base)
        print(f"pages: {', '.join(paths)}; {arguments.rate:.0f} requests a second")
        idle = asyncio.run(load(base, paths, arguments.rate, arguments.seconds))
        print(idle.line("idle"))
        sending, took = asyncio.run(load_during_send(root, base, paths, arguments.rate))
        print(sending.line("sending"))
        print(
            f"send: {sent_count(root)} of {arguments.subscribers} sent in {took:.1f} s"
            f" (process start included), sink received {sink.received.value}"
        )
        ratio = sending.percentile(0.99) / idle.percentile(0.99)
        verdict = "met" if ratio <= 2 and sending.errors == 0 else "NOT met"
        print(f"p99 sending / idle: {ratio:.2f}x (goal <= 2x, 0 errors): {verdict}")
        locked = page_while_locked(root, base, paths[0])
        verdict = "met" if locked < 1 else "NOT met"
        print(
            f"home page while another process holds BEGIN IMMEDIATE: {locked * 1000:.0f} ms"
            f" (goal < 1 s): {verdict}"
        )
        print(
            f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
            f"; median idle latency {statistics.median(idle.seconds) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
