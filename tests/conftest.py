"""Shared fixtures: a temp copy of the sample site, stores on SQLite and PostgreSQL, a clock."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from publisher.config import Config, load_config
from publisher.store.database import Store, open_store
from tests.postgres_pool import Contents, DatabasePool, contents_of, refill

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL_VARIABLE = "PUBLISHER_TEST_DATABASE_URL"
# After every sample article's date and before the one scheduled for 2031.
SAMPLE_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class MovableClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = SAMPLE_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Site:
    """A writable copy of the bundled sample site."""

    root: Path
    config_path: Path

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def feeds(self) -> Path:
        return self.root / "feeds"

    def config(self) -> Config:
        return load_config(self.config_path)

    def write_article(self, relative: str, text: str) -> Path:
        path = self.content / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


def publisher_environment(**extra: str) -> dict[str, str]:
    """This process's environment for a `publisher` subprocess, minus what would pick another
    site or store, plus `extra`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PUBLISHER_CONFIG", "PUBLISHER_STORE_URL")
    }
    return environment | extra


def run_publisher(
    folder: Path, *args: str, stdin: bytes = b"", **extra_environment: str
) -> subprocess.CompletedProcess[str]:
    """`publisher ARGS` in `folder`, run to its end in this process, its output captured.

    The command runs as a user's would (its own environment and folder, a fresh logging set-up,
    a traceback written to stderr as Python would), without the cost of a new interpreter:
    a real process is for what only a process shows (signals, kill -9, `python -m`).
    """
    from click.testing import CliRunner

    from publisher.cli import main

    with _as_a_fresh_process(folder, publisher_environment(**extra_environment)):
        result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(
        ["publisher", *args], result.exit_code, result.stdout, stderr
    )


@contextmanager
def _as_a_fresh_process(folder: Path, environment: dict[str, str]) -> Iterator[None]:
    """Run in `folder` with exactly `environment`, and with logging as a new process has it."""
    saved_folder, saved_environment = Path.cwd(), dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    quiet = ("alembic", "apscheduler.executors", "apscheduler.scheduler")
    saved_levels = {name: logging.getLogger(name).level for name in quiet}
    os.chdir(folder)
    os.environ.clear()
    os.environ.update(environment)
    root.handlers = []  # so the command's logging.basicConfig writes to its own stderr
    try:
        yield
    finally:
        os.chdir(saved_folder)
        os.environ.clear()
        os.environ.update(saved_environment)
        root.handlers, root.level = saved_handlers, saved_level
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def run_publisher_process(
    folder: Path, *args: str, **extra_environment: str
) -> subprocess.CompletedProcess[str]:
    """`python -m publisher ARGS` in `folder` as a real process, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args],
        cwd=folder,
        env=publisher_environment(**extra_environment),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_publisher(site: Site, *args: str, **extra_environment: str) -> subprocess.Popen[str]:
    """`python -m publisher ARGS` in the site's folder, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", *args],
        cwd=site.root,
        env=publisher_environment(**extra_environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if args[:1] == ("run",) else subprocess.PIPE,
        text=True,
    )


def copy_sample(root: Path) -> Site:
    """The bundled sample site (its content and config) copied into the new folder `root`."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "config.toml", root / "config.toml")
    return Site(root=root, config_path=root / "config.toml")


def _file_states(site: Site) -> list[tuple[str, int, int]]:
    """The config's bytes, and each content file's size and time (copies keep the time)."""
    states = [
        (str(path.relative_to(site.root)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(site.content.rglob("*"))
        if path.is_file()
    ]
    return [("config.toml", hash(site.config_path.read_bytes()), 0), *states]


class PublishedSample:
    """The sample site published once per test process (gathered, built, one daily edition),
    copied into each test's site instead of publishing it again: the same bytes, the same
    store, in a fraction of the time."""

    # What publishing the sample writes beside its content, all copied.
    OUTPUTS = ("publisher.db", "feeds", "archive")

    def __init__(self) -> None:
        self.folder: tempfile.TemporaryDirectory[str] | None = None
        self.site: Site | None = None
        self.postgres: Contents | None = None  # the rows of the sample published on PostgreSQL

    def matches(self, site: Site, now: datetime) -> bool:
        """Whether `site` is the untouched sample at the sample's time, as a copy would be."""
        return now == SAMPLE_NOW and _file_states(site) == _file_states(self._published())

    def copy_into(self, site: Site, store_url: str | None = None) -> None:
        """The published outputs copied into `site`; with `store_url` (an empty store at the
        latest schema, as the `store_url` fixture gives), the store goes there instead of the
        site's own file."""
        source = self._published().root
        for name in self.OUTPUTS:
            if (source / name).is_dir():
                shutil.copytree(source / name, site.root / name)
            elif store_url is None:
                shutil.copy2(source / name, site.root / name)
        if store_url is None:
            return
        target = sa.make_url(store_url)
        if target.get_backend_name() == "sqlite":
            shutil.copyfile(source / "publisher.db", str(target.database))
        else:
            refill(store_url, self.postgres_contents())

    def postgres_contents(self) -> Contents:
        """The rows of the sample published on PostgreSQL, published once per process."""
        if self.postgres is None:
            with (
                _postgres_database() as database,
                tempfile.TemporaryDirectory(prefix="published-sample-") as folder,
            ):
                site = copy_sample(Path(folder) / "site")
                _publish(dataclasses.replace(site.config(), store_url=database))
                self.postgres = contents_of(database)
        return self.postgres

    def _published(self) -> Site:
        if self.site is None:
            self.folder = tempfile.TemporaryDirectory(prefix="published-sample-")
            site = copy_sample(Path(self.folder.name) / "site")
            _publish(site.config())
            self.site = site
        return self.site


def _publish(config: Config) -> None:
    """Gather the site, build it and make one daily edition, at the sample's time."""
    from publisher.mail.editions import create_edition
    from publisher.site.build import build
    from publisher.site.gather import gather

    with open_store(config.store_url) as store:
        gather(store, config, MovableClock())
        build(store, config)
        create_edition(store, config, "daily", MovableClock())


PUBLISHED_SAMPLE = PublishedSample()


# Whole files whose tests start real processes (the CLI, a daemon, a server) or whole tools.
SLOW_FILES = frozenset(
    {
        "test_cli.py",
        "test_first_hour.py",
        "test_inbound_daemon.py",
        "test_quality.py",
        "test_scheduler.py",
        "test_web_serve.py",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    """Temp folders in memory (/dev/shm, a tmpfs) where the machine has one and TMPDIR does not
    say otherwise; the test processes and everything they start inherit it. The tests write
    ~550 MB in ~300,000 files a run: on this machine's ext4 the same store and web tests took
    ~15% less system time in memory."""
    shm = Path("/dev/shm")
    if "TMPDIR" not in os.environ and shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        os.environ["TMPDIR"] = str(shm)
        tempfile.tempdir = None  # computed again from TMPDIR


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile the package once before any test starts `python -m publisher`: where
    PYTHONDONTWRITEBYTECODE is set (as on CI), each of those processes would otherwise compile
    every module it imports again, as an installed wheel never does. The test modules too,
    with their asserts rewritten, before the test processes start: each would rewrite all of
    them otherwise (~6 s of its ~10 s collection)."""
    if not hasattr(session.config, "workerinput"):  # once, in the controlling process
        import compileall

        compileall.compile_dir(REPO / "publisher", quiet=1)
        _rewrite_test_modules(session.config)


def _rewrite_test_modules(config: pytest.Config) -> None:
    """Write pytest's cached, assert-rewritten code of each test module where it looks for it
    (tests/__pycache__, checked by source hash), as its import hook would."""
    try:
        from _pytest.assertion import rewrite
    except ImportError:  # another pytest: each process rewrites what it imports
        return
    state = config.stash.get(rewrite.assertstate_key, None)
    if state is None:  # --assert=plain
        return
    tests = Path(__file__).parent
    for module in sorted([tests / "conftest.py", *tests.glob("test_*.py")]):
        cache = rewrite.get_cache_dir(module)
        cached = cache / (module.name.removesuffix(".py") + rewrite.PYC_TAIL)
        if rewrite._read_pyc(module, cached, state.trace) is None and rewrite.try_makedirs(cache):
            source_hash, code = rewrite._rewrite_test(module, config)
            rewrite._write_pyc(state, code, source_hash, cached)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: two test processes per core. Many tests spend much of their time waiting
    for a child process, a server or the browser: one process per core took 12:33 where two
    took 10:14 (same load); three per core gained nothing more (429 s against 435 s), the
    cores being busy by then. PYTEST_XDIST_AUTO_NUM_WORKERS still decides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return 2 * len(os.sched_getaffinity(0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test for the fast subset: browser, package, postgres and slow ones."""
    for item in items:
        name = item.path.name
        fixtures = set(getattr(item, "fixturenames", ()))
        if name.endswith("_browser.py") or "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if name == "test_package.py":
            item.add_marker(pytest.mark.package)
        if name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
        if "postgres_url" in fixtures or "[postgresql" in item.nodeid:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def site(tmp_path: Path, migrated_templates: MigratedTemplates) -> Site:
    """The sample site with its store (publisher.db) at the newest schema, still empty: a
    copy of the session's migrated store instead of every test migrating its own."""
    copied = copy_sample(tmp_path / "site")
    migrated_templates.sqlite_copy(copied.root / "publisher.db")
    return copied


@pytest.fixture
def bare_site(tmp_path: Path) -> Site:
    """The sample site as it ships: no store yet (for tests of what creates one)."""
    return copy_sample(tmp_path / "site")


def postgres_admin_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url and os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_URL_VARIABLE} must be set in CI: PostgreSQL tests may not skip")
    return url


def _postgres_admin() -> sa.Engine:
    admin_url = postgres_admin_url()
    if not admin_url:
        pytest.skip(f"set {POSTGRES_URL_VARIABLE} to run the PostgreSQL tests")
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")


@contextmanager
def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template`, or empty), dropped afterwards."""
    admin = _postgres_admin()
    name = f"publisher_test_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    with _postgres_database() as url:
        yield url


class MigratedTemplates:
    """An empty store at the latest schema, migrated once per test process on each database
    and copied for each test that wants a store (a file copy on SQLite; on PostgreSQL a
    database of the process's pool, refilled with the template's rows): the same schema and
    rows as migrating it again, in a tenth of the time. Tests of migrations themselves take
    `empty_store_url`."""

    def __init__(self) -> None:
        self._sqlite: Path | None = None
        self._postgres: DatabasePool | None = None
        self._cleanup: list[Any] = []

    def sqlite_copy(self, target: Path) -> str:
        if self._sqlite is None:
            folder = tempfile.TemporaryDirectory(prefix="migrated-store-")
            self._cleanup.append(folder.cleanup)
            path = Path(folder.name) / "store.db"
            open_store(f"sqlite:///{path}").close()  # the last connection's close empties the WAL
            assert not path.with_name("store.db-wal").exists()
            self._sqlite = path
        shutil.copyfile(self._sqlite, target)
        return f"sqlite:///{target}"

    def postgres_copy(self) -> Iterator[str]:
        if self._postgres is None:
            database = _postgres_database()
            url = database.__enter__()
            self._cleanup.append(lambda: database.__exit__(None, None, None))
            open_store(url).close()
            pool = DatabasePool(_postgres_admin(), str(sa.make_url(url).database))
            self._cleanup.append(pool.close)
            self._postgres = pool
        with self._postgres.database() as url:
            yield url

    def close(self) -> None:
        for cleanup in reversed(self._cleanup):
            cleanup()


@pytest.fixture(scope="session")
def migrated_templates() -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates()
    yield templates
    templates.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[str]:
    """An empty store at the latest schema on each supported database: every store test runs
    on both."""
    if request.param == "sqlite":
        yield migrated_templates.sqlite_copy(tmp_path / "store.db")
    else:
        yield from migrated_templates.postgres_copy()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each supported database, no schema yet: for migration tests."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


# A real SMTP server on loopback -------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


class RecordingHandler:
    """An aiosmtpd handler that keeps what it accepts and can be told to misbehave."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.refused: dict[str, str] = {}  # recipient -> SMTP reply, e.g. "550 no such user"
        self.temporary_failures = 0  # answer this many DATA commands with 451
        self.drop_on_rcpt: set[int] = set()  # drop the connection at these RCPT numbers (1-based)
        self.drop_after_data: set[int] = set()  # take DATA, then drop before replying
        self.rcpt_count = 0
        self.data_count = 0
        self.delay = 0.0  # seconds to wait before answering DATA (a slow server)
        self.pipelining = True  # offer PIPELINING (RFC 2920) in the EHLO reply
        self.rcpt_replies: list[str] = []  # answer the next RCPTs with these (e.g. throttling)
        self.data_reply = ""  # answer every DATA with this (a relay that refuses everything)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self.lock:
            self.rcpt_count += 1
            number = self.rcpt_count
        if number in self.drop_on_rcpt:
            server.transport.close()
            return "421 closing"
        with self.lock:
            reply = self.rcpt_replies.pop(0) if self.rcpt_replies else None
        if reply is not None:
            return reply
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.data_count += 1
            number = self.data_count
            if self.temporary_failures > 0:
                self.temporary_failures -= 1
                return "451 4.3.0 try again later"
            if self.data_reply:
                return self.data_reply
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        if number in self.drop_after_data:
            server.transport.close()
        return "250 2.0.0 accepted"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for message in self.received for r in message.recipients]


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


def free_port() -> int:
    """A loopback port nobody listens on (aiosmtpd cannot start on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# A real browser: Debian's chromium driven by Playwright ---------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"  # screenshots; git-ignored
CHROMIUM_ARGUMENTS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def page_at(browser: Any, width: int, scheme: str = "light") -> Iterator[Any]:
    """A page in a fresh context `width` pixels wide, in the light or dark colour scheme.
    JavaScript is on only so tests can measure the page; the site's pages have none."""
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        color_scheme="dark" if scheme == "dark" else "light",
    )
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def tab(browser: Any) -> Iterator[Callable[[int, str], Any]]:
    """A page per width and colour scheme (see `page_at`), kept for the module, going from page
    to page as a reader's tab would: each new page starts a Chromium renderer, and loading a
    page and running axe-core there cost twice as much as in a page already open."""
    with ExitStack() as pages:
        opened: dict[tuple[int, str], Any] = {}

        def tab_at(width: int, scheme: str) -> Any:
            if (width, scheme) not in opened:
                opened[width, scheme] = pages.enter_context(page_at(browser, width, scheme))
            return opened[width, scheme]

        yield tab_at


def save_screenshot(page: Any, name: str) -> None:
    """The whole page as test-artifacts/<name>.png, when PUBLISHER_TEST_SCREENSHOTS is set. Off
    by default, as pytest-playwright's --screenshot is: one whole page costs Chromium 1-2 CPU
    seconds (the site pages' browser tests: 159 core-seconds with them, 117 without)."""
    if os.environ.get("PUBLISHER_TEST_SCREENSHOTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, headless; the tests skip without it, except in CI where they fail."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: browser tests may not skip in CI")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS
        )
        yield launched
        launched.close()
