"""Atomic writes: a file is whole or untouched, and identical bytes are not rewritten."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.files import inside, write_atomically


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
