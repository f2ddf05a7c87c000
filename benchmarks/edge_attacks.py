"""Compression bombs against `fetch`: the peak memory of refusing each, measured.

Usage: python benchmarks/edge_attacks.py [--gibibytes 1]

A loopback server (a child process) answers with 1.6 KB of `Content-Encoding: br` that inflates
to `--gibibytes` GiB of zeros, then a gzip bomb of the same size. Each fetch runs in a fresh
child process and prints its outcome, its CPU time and its peak resident memory (ru_maxrss),
which must stay under 100 MB. It is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import brotli

from publisher.sources.fetch import FetchRequest, FetchSettings, fetch_all

MIB = 1 << 20


def brotli_bomb(mebibytes: int) -> bytes:
    compressor = brotli.Compressor(quality=5)
    return b"".join(
        [*(compressor.process(bytes(MIB)) for _ in range(mebibytes)), compressor.finish()]
    )


def gzip_bomb(mebibytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [compressor.compress(bytes(MIB)) for _ in range(mebibytes)]
    return b"".join([*parts, compressor.flush()])


def serve(port: Any, bodies: dict[str, tuple[str, bytes]]) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            encoding, body = bodies[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.value = server.server_address[1]
    server.serve_forever()


def fetch_in_child(url: str, results: Any) -> None:
    settings = FetchSettings(
        timeout=120.0,
        max_bytes=10 * MIB,
        concurrency=1,
        user_agent="publisher-benchmark",
        allow_private=True,
    )
    started = time.process_time()
    [result] = fetch_all([FetchRequest("bomb", url)], settings)
    cpu = time.process_time() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put((result.outcome, result.error, cpu, peak_kib / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gibibytes", type=int, default=1)
    size = parser.parse_args().gibibytes * 1024
    bodies = {"/br": ("br", brotli_bomb(size)), "/gzip": ("gzip", gzip_bomb(size))}
    port = multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=serve, args=(port, bodies), daemon=True)
    server.start()
    while not port.value:
        time.sleep(0.05)
    for path, (encoding, body) in bodies.items():
        results: Any = multiprocessing.Queue()
        child = multiprocessing.Process(
            target=fetch_in_child, args=(f"http://127.0.0.1:{port.value}{path}", results)
        )
        child.start()
        outcome, error, cpu, peak_mib = results.get()
        child.join()
        print(
            f"{encoding}: {len(body):,} bytes inflating to {size:,} MiB: {outcome} "
            f"({error}); CPU {cpu:.2f} s; peak memory {peak_mib:.0f} MiB"
        )
    server.terminate()


if __name__ == "__main__":
    main()
