"""A store the database refuses (corrupt, not a database at all): one line naming it, exit 1."""

from __future__ import annotations

import pytest

from publisher.errors import StoreError
from publisher.store.database import open_store
from tests.conftest import Site, free_port
from tests.test_cli import run

PAGE = 4096  # SQLite's page size


def gathered(site: Site) -> bytes:
    result = run(site, "gather")
    assert result.returncode == 0, result.stderr
    return (site.root / "publisher.db").read_bytes()


def assert_one_line_naming_the_store(site: Site, command: str, problem: str) -> None:
    result = run(site, *command.split())
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: store sqlite:///publisher.db: "), lines[0]  # as typed here
    assert problem in lines[0]


@pytest.mark.parametrize("command", ["gather", "build", "send", "digest list"])
def test_store_with_garbage_over_its_header_is_one_line_and_exit_1(
    site: Site, command: str
) -> None:
    data = gathered(site)
    (site.root / "publisher.db").write_bytes(b"GARBAGE" + data[7:])
    assert_one_line_naming_the_store(site, command, "file is not a database")


def test_plain_text_file_as_the_store_is_one_line_and_exit_1(site: Site) -> None:
    (site.root / "publisher.db").write_text("my shopping list\n" * 100)
    assert_one_line_naming_the_store(site, "gather", "file is not a database")


def test_store_corrupt_past_its_first_page_is_one_line_and_exit_1(site: Site) -> None:
    data = gathered(site)
    assert len(data) > 4 * PAGE
    (site.root / "publisher.db").write_bytes(data[: 2 * PAGE] + b"\xa5" * (len(data) - 2 * PAGE))
    assert_one_line_naming_the_store(site, "build", "malformed")


def test_opening_a_corrupt_store_raises_a_store_error_naming_it(site: Site) -> None:
    path = site.root / "publisher.db"
    path.write_bytes(b"GARBAGE" + bytes(PAGE))
    with pytest.raises(StoreError, match=f"store sqlite:///{path}: file is not a database"):
        open_store(f"sqlite:///{path}")


def test_unreachable_postgresql_store_is_a_store_error_without_its_password() -> None:
    url = f"postgresql+psycopg://publisher:hunter2-secret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(
        StoreError, match="store postgresql\\+psycopg://publisher:\\*\\*\\*@"
    ) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)
