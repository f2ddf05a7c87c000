"""The CLI starts at once: importing it, or opening a current store, loads no heavy library.

These tests look at what got imported (`sys.modules` of a fresh interpreter), never at a clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from publisher.store.database import open_store

# Libraries no command needs just to start: each command imports its own when it runs.
HEAVY = ("alembic", "premailer", "apscheduler", "starlette", "uvicorn", "httpx", "feedgen")


def _modules_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running `code`."""
    listing = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\nimport json, sys\n{listing}"
    finished = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(finished.stdout.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert _modules_after("import publisher.cli").isdisjoint(HEAVY)


def test_version_and_help_load_no_heavy_library_and_no_config_or_store() -> None:
    for arguments in (["--version"], ["--help"], ["subscribers", "--help"]):
        code = (
            "from publisher.cli import main\n"
            f"try:\n    main({arguments!r})\nexcept SystemExit:\n    pass"
        )
        loaded = _modules_after(code)
        assert loaded.isdisjoint({*HEAVY, "sqlalchemy", "pydantic"}), arguments


def test_opening_a_current_store_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url).close()  # made, and migrated, here
    loaded = _modules_after(
        f"from publisher.store.database import open_store\nopen_store({url!r}).close()"
    )
    assert "sqlalchemy" in loaded
    assert "alembic" not in loaded


def test_opening_an_empty_store_migrates_it_with_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    loaded = _modules_after(
        f"from publisher.store.database import open_store\nopen_store({url!r}).close()"
    )
    assert "alembic" in loaded


def test_sending_loads_no_css_inliner_nor_feed_writer() -> None:
    # An edition is rendered (premailer) when it is made; `send` only addresses it.
    loaded = _modules_after("import publisher.mail.delivery.requests")
    assert loaded.isdisjoint({"premailer", "cssutils", "feedgen", "alembic", "httpx"})
    assert "publisher" in loaded


def test_sending_loads_no_template_engine_nor_address_validator() -> None:
    # `send` addresses an edition already rendered: Jinja, Markdown, front matter and the
    # address validator belong to making editions and adding subscribers.
    loaded = _modules_after(
        "import publisher.cli.delivery, publisher.mail.delivery.requests, "
        "publisher.mail.delivery.send"
    )
    assert loaded.isdisjoint({"jinja2", "markdown_it", "frontmatter", "email_validator", "PIL"})
    assert "publisher" in loaded
