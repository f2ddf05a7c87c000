"""`publisher serve` as an operator runs it: says where it listens, stops cleanly on a signal."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Site, start_publisher

SECRET = {"PUBLISHER_SECRET": "a-serve-test-secret-0123456789"}
LINE = "serve: listening on "


def first_line(process: subprocess.Popen[str], seconds: float = 60) -> str:
    """The first line `process` prints, waiting at most `seconds`."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            raise AssertionError("nothing printed in time")
    return process.stdout.readline()


@pytest.fixture
def serving(site: Site) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = start_publisher(site, "serve", "--port", "0", **SECRET)
    try:
        line = first_line(process)
        assert line.startswith(LINE), line + (process.stderr.read() if process.stderr else "")
        yield process, line.removeprefix(LINE).strip()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


def get(url: str, seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_answers_there_and_exits_0_on_a_signal(
    serving: tuple[subprocess.Popen[str], str], stop: signal.Signals
) -> None:
    process, url = serving
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/")
    response = get(url)
    assert response.status_code == 200
    assert "The Harbour Gazette" in response.text
    process.send_signal(stop)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "Aborted" not in err


def test_serve_on_a_port_in_use_is_one_line_and_exit_1(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_publisher(site, "serve", "--port", str(port), **SECRET)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out + err
    [line] = err.splitlines()
    assert line.startswith(f"error: cannot listen on 127.0.0.1 port {port}: ")
    assert "Address already in use" in line
    assert LINE not in out
