"""Atomic writes: a file is whole or untouched, and identical bytes are not rewritten."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from publisher.files import inside, remove_stale_temporaries, write_atomically
from tests.conftest import Site
from tests.test_cli import run


def test_new_file_is_written(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "feed.xml"
    assert write_atomically(target, b"<rss/>") is True
    assert target.read_bytes() == b"<rss/>"


def test_identical_bytes_are_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    write_atomically(target, b"same")
    os.utime(target, ns=(1, 1))
    assert write_atomically(target, b"same") is False
    assert target.stat().st_mtime_ns == 1


def test_changed_bytes_replace_the_file_and_leave_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    write_atomically(target, b"old")
    assert write_atomically(target, b"new") is True
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    write_atomically(target, b"old")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]


@pytest.mark.parametrize("escape", ["../outside.xml", "/etc/passwd", "a/../../b.xml", "."])
def test_paths_cannot_leave_the_root(tmp_path: Path, escape: str) -> None:
    with pytest.raises(ValueError, match="not a path inside"):
        inside(tmp_path / "feeds", escape)


def test_paths_inside_the_root_are_allowed(tmp_path: Path) -> None:
    assert (
        inside(tmp_path, "categories/news/rss.xml")
        == (tmp_path / "categories/news/rss.xml").resolve()
    )


# Temp files of writers that died (kill -9) ---------------------------------------------------

# A writer that stops at the rename: killed there (SIGKILL), or waiting for a line on stdin.
WRITER = """
import os, signal, sys
from pathlib import Path
import publisher.files as files

real_replace = os.replace
def stop_at_rename(source, target):
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("writing", flush=True)
    sys.stdin.readline()
    real_replace(source, target)

files.os.replace = stop_at_rename
files.write_atomically(Path(sys.argv[1]), b"<rss>" + b" " * 1_000_000 + b"</rss>")
"""


def writer(target: Path, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def killed_mid_write(target: Path) -> Path:
    """The temp file a writer killed by SIGKILL just before its rename leaves behind."""
    before = set(temporaries(target.parent))
    process = writer(target, "kill")
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    [left] = set(temporaries(target.parent)) - before
    return left


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def test_temp_file_of_a_killed_writer_is_removed(tmp_path: Path) -> None:
    left = killed_mid_write(tmp_path / "rss.xml")
    assert left.name.startswith(".rss.xml.")
    assert remove_stale_temporaries(tmp_path) == [left]
    assert temporaries(tmp_path) == []


def test_temp_file_of_a_live_writer_is_kept_and_its_write_completes(tmp_path: Path) -> None:
    target = tmp_path / "rss.xml"
    process = writer(target, "wait")
    assert process.stdout is not None
    assert process.stdout.readline() == "writing\n"
    [live] = temporaries(tmp_path)
    assert remove_stale_temporaries(tmp_path) == []
    assert live.exists()
    process.communicate("go\n", timeout=60)
    assert process.returncode == 0
    assert target.read_bytes().startswith(b"<rss>")
    assert temporaries(tmp_path) == []


def test_only_temp_files_of_our_naming_and_the_names_asked_for_are_removed(
    tmp_path: Path,
) -> None:
    feed = killed_mid_write(tmp_path / "rss.xml")
    other = killed_mid_write(tmp_path / "notes.txt")
    theirs = tmp_path / ".someone-elses.tmp"
    theirs.write_bytes(b"keep")
    assert remove_stale_temporaries(tmp_path, {"rss.xml", "atom.xml"}) == [feed]
    assert other.exists()
    assert theirs.exists()


def test_interrupted_builds_leave_no_temp_files_behind(site: Site) -> None:
    assert run(site, "build").returncode == 0
    killed_mid_write(site.feeds / "rss.xml")
    killed_mid_write(site.feeds / "categories/news/atom.xml")
    killed_mid_write(site.feeds / "categories/news/atom.xml")
    result = run(site, "build")
    assert result.returncode == 0, result.stderr
    assert list(site.feeds.rglob("*.tmp")) == []


def test_interrupted_archive_writes_leave_no_temp_files_behind(site: Site) -> None:
    assert run(site, "publish").returncode == 0
    archive = site.root / "archive/daily"
    archive.mkdir(parents=True)
    killed_mid_write(archive / "1.html")
    result = run(site, "digest", "create", "daily")
    assert result.returncode == 0, result.stderr
    assert [path.name for path in archive.iterdir()] == ["1.html"]


def test_a_write_racing_a_cleaner_still_lands(tmp_path: Path) -> None:
    target = tmp_path / "rss.xml"
    stop = threading.Event()

    def clean() -> None:
        while not stop.is_set():
            remove_stale_temporaries(tmp_path)

    cleaner = threading.Thread(target=clean)
    cleaner.start()
    try:
        for number in range(200):
            assert write_atomically(target, f"<rss>{number}</rss>".encode())
            assert target.read_bytes() == f"<rss>{number}</rss>".encode()
    finally:
        stop.set()
        cleaner.join()
