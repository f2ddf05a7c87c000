"""The installed product: a wheel built from this checkout, in a fresh venv, run in a folder of
its own, with nothing of the checkout in reach."""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port, publisher_environment

# Generous: a cold start imports the whole program; the loop ends as soon as it answers.
SERVE_DEADLINE_SECONDS = 60
# Only what a wheel is built from: the checkout's other files (content, tests) stay behind.
SOURCES = ("pyproject.toml", "README.md", "publisher", "templates")
PRINT_PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


@dataclass(frozen=True)
class Installation:
    """A fresh venv holding the wheel; its dependencies come from this test's interpreter."""

    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def publisher(self) -> Path:
        return self.venv / "bin" / "publisher"

    def run(self, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`publisher ARGS` in `folder`, its output captured."""
        return subprocess.run(
            [str(self.publisher), *args],
            cwd=folder,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def _environment() -> dict[str, str]:
    environment = publisher_environment()
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PUBLISHER_SECRET"):
        environment.pop(name, None)
    return environment


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=_environment() | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy(REPO / name, source / name)
    dist = work / "dist"
    # No build isolation and no index: setuptools comes from the test extras, nothing from
    # the network.
    pip_wheel = ("pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index")
    _run(sys.executable, "-m", *pip_wheel, "-w", dist, source)
    (wheel,) = dist.glob("publisher-*.whl")
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel)
    # The dependencies: this interpreter's site-packages folders, after the venv's own, so
    # `publisher` itself can only come from the wheel (a .pth line adds a folder to sys.path
    # but runs none of the .pth files in it, so an editable install there stays inert).
    purelib = _run(venv / "bin" / "python", "-c", PRINT_PURELIB)
    folders = [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    (Path(purelib.strip()) / "test-dependencies.pth").write_text(
        "".join(f"{folder}\n" for folder in folders), encoding="utf-8"
    )
    return Installation(wheel=wheel, venv=venv)


@pytest.fixture
def sample_folder(tmp_path: Path) -> Path:
    """A folder holding only the sample site's config.toml, content/ and subscribers.csv."""
    folder = tmp_path / "gazette"
    folder.mkdir()
    shutil.copy(REPO / "config.toml", folder / "config.toml")
    shutil.copy(REPO / "subscribers.csv", folder / "subscribers.csv")
    shutil.copytree(REPO / "content", folder / "content")
    return folder


@dataclass(frozen=True)
class Server:
    base: str

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=30)


def _wait_for(process: subprocess.Popen[str], base: str) -> Server:
    """The server `process` runs at `base`, once it answers (polled, with a deadline)."""
    server = Server(base)
    deadline = time.monotonic() + SERVE_DEADLINE_SECONDS
    while True:
        assert process.poll() is None, process.communicate()
        try:
            server.get("/probe")
            return server
        except httpx.TransportError:
            assert time.monotonic() < deadline, "publisher serve never answered"
            time.sleep(0.1)


@pytest.fixture
def serve(installation: Installation) -> Iterator[Callable[[Path], Server]]:
    """Start `publisher serve` in a folder; stopped at the end of the test."""
    started: list[subprocess.Popen[str]] = []

    def start(folder: Path) -> Server:
        port = free_port()
        process = subprocess.Popen(
            [str(installation.publisher), "serve", "--port", str(port)],
            cwd=folder,
            env=_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return _wait_for(process, f"http://127.0.0.1:{port}")

    yield start
    for process in started:
        process.terminate()
        process.communicate(timeout=60)


def test_wheel_holds_every_bundled_template(installation: Installation) -> None:
    bundled = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "templates").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(installation.wheel) as wheel:
        shipped = {name.removeprefix("publisher/") for name in wheel.namelist()}
    assert bundled
    assert bundled <= shipped
    migrations = {
        path.relative_to(REPO / "publisher").as_posix()
        for path in (REPO / "publisher" / "migrations" / "versions").glob("*.py")
    }
    assert migrations <= shipped


def test_wheel_holds_every_catalog_and_the_installed_package_reads_them(
    installation: Installation, tmp_path: Path
) -> None:
    catalogs = {
        path.relative_to(REPO / "publisher").as_posix()
        for path in (REPO / "publisher" / "locale").rglob("*")
        if path.suffix in (".po", ".mo", ".pot")
    }
    with zipfile.ZipFile(installation.wheel) as wheel:
        shipped = {name.removeprefix("publisher/") for name in wheel.namelist()}
    assert {"locale/messages.pot", "locale/ja/LC_MESSAGES/messages.mo"} <= catalogs
    assert catalogs <= shipped, sorted(catalogs - shipped)
    code = (
        "from publisher.i18n.catalogs import translations_for; "
        "print(translations_for('de-AT').gettext('All articles'))"
    )
    assert _run(installation.python, "-c", code, cwd=tmp_path).strip() == "Alle Artikel"


def test_wheel_holds_every_module_of_the_checkout(installation: Installation) -> None:
    modules = {
        path.relative_to(REPO / "publisher").as_posix()
        for path in (REPO / "publisher").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(installation.wheel) as wheel:
        shipped = {name.removeprefix("publisher/") for name in wheel.namelist()}
    assert "inbound/classify.py" in modules
    assert modules <= shipped, sorted(modules - shipped)


def test_installed_package_comes_from_the_wheel_not_the_checkout(
    installation: Installation, tmp_path: Path
) -> None:
    code = "import publisher, publisher.templates as t; print(publisher.__file__, t.__file__)"
    located = _run(installation.python, "-c", code, cwd=tmp_path)
    for line in located.split():
        where = Path(line).resolve()
        assert where.is_relative_to(installation.venv.resolve()), where
        assert not where.is_relative_to(REPO), where


def test_installed_wheel_publishes_and_serves_the_sample_site(
    installation: Installation, sample_folder: Path, serve: Callable[[Path], Server]
) -> None:
    imported = installation.run(sample_folder, "subscribers", "import", "subscribers.csv")
    assert imported.returncode == 0, imported.stderr
    published = installation.run(sample_folder, "publish", "--digest")
    assert published.returncode == 0, published.stdout + published.stderr
    assert (sample_folder / "feeds" / "rss.xml").is_file()
    outbox = mailbox.Maildir(sample_folder / "outbox", create=False)
    subjects = sorted(str(message["Subject"]) for message in outbox)
    # daily: four subscribers; culture: two.
    assert len(subjects) == 6
    assert any(subject.startswith("The Harbour Gazette: ") for subject in subjects)

    server = serve(sample_folder)
    pages = {
        "/": "The Harbour Gazette",
        "/articles/harbour-dredging-march/": "Harbour dredging to begin in March",
        "/categories/culture/": "Culture",
        "/archive/daily/1.html": "Harbour dredging to begin in March",
    }
    for path, text in pages.items():
        response = server.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        assert text in response.text, path
    assert server.get("/media/images/harbour-dredger.jpg").status_code == 200

    # `publisher init` in an empty folder: publishes and serves with no edit.
    empty = sample_folder.parent / "new-site"
    empty.mkdir()
    made = installation.run(empty, "init")
    assert made.returncode == 0, made.stderr
    published = installation.run(empty, "publish", "--digest")
    assert published.returncode == 0, published.stdout + published.stderr
    assert "daily: edition 1" in published.stdout
    server = serve(empty)
    pages = {
        "/": "My Newsletter",
        "/articles/welcome/": "Welcome to My Newsletter",
        "/categories/news/": "Welcome to My Newsletter",
        "/archive/daily/1.html": "Welcome to My Newsletter",
        "/media/images/welcome.png": "PNG",
    }
    for path, text in pages.items():
        response = server.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        assert text in response.text, path


def readme_site_steps() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Start your own site", 1)[1].split("\n## ", 1)[0]
    (steps,) = re.findall(r"```sh\n(.+?)\n```", section, flags=re.DOTALL)
    return str(steps)


def test_readme_start_your_own_site_steps_work_as_written(
    installation: Installation, tmp_path: Path
) -> None:
    steps = readme_site_steps()
    assert steps.splitlines()[-1] == "publisher serve"
    port = free_port()
    # The last step runs as written but on a free port, so the test cannot collide with a
    # server already on [web] port.
    script = steps.removesuffix("publisher serve") + f"exec publisher serve --port {port}"
    bin_folder = str(installation.venv / "bin")
    environment = _environment()
    environment["PATH"] = f"{bin_folder}{os.pathsep}{environment.get('PATH', '')}"
    process = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        server = _wait_for(process, f"http://127.0.0.1:{port}")
        home = server.get("/")
        assert home.status_code == 200
        assert "My Newsletter" in home.text
        article = server.get("/articles/welcome/")
        assert article.status_code == 200
        assert "Welcome to My Newsletter" in article.text
    finally:
        process.terminate()
        process.communicate(timeout=60)
    outbox = mailbox.Maildir(tmp_path / "my-site" / "outbox", create=False)
    (message,) = list(outbox)
    assert message["To"] == "Your Name <you@example.org>"
    assert message["From"] == "My Newsletter <news@example.org>"


def test_no_module_finds_files_from_its_own_location() -> None:
    offenders = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "publisher").rglob("*.py")
        if "__file__" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
