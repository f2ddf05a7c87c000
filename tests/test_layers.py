"""The layer rules hold for every module of the package, and the check finds a broken one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.layers import LAYERS, violations

REPO = Path(__file__).resolve().parent.parent


def test_every_import_keeps_to_the_layers() -> None:
    assert violations(REPO) == []


def test_every_package_has_a_docstring_saying_what_it_is_for() -> None:
    for init in sorted((REPO / "publisher").rglob("__init__.py")):
        if "migrations" in init.parts:
            continue
        text = init.read_text(encoding="utf-8").lstrip()
        assert text.startswith('"""'), f"{init.relative_to(REPO)} has no docstring"


def test_the_top_level_stays_small() -> None:
    modules = [path.name for path in (REPO / "publisher").glob("*.py")]
    assert len(modules) <= 10, sorted(modules)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # a lower layer reaching up
            {"publisher/store/queries.py": "from publisher.mail.render import x\n"},
            "publisher/store/queries.py:1: publisher.store.queries imports "
            "publisher.mail.render (a higher layer)",
        ),
        (  # the web importing the daemon, inside a function
            {"publisher/web/app.py": "def f():\n    import publisher.daemon.scheduler\n"},
            "publisher/web/app.py:2: publisher.web.app imports "
            "publisher.daemon.scheduler (a higher layer)",
        ),
        (  # a relative import counts too
            {"publisher/audience/links.py": "from ..mail import render\n"},
            "publisher/audience/links.py:1: publisher.audience.links imports "
            "publisher.mail (a higher layer)",
        ),
        (  # the pure core touching the store, though the store is lower than mail
            {"publisher/mail/render.py": "from publisher.store.schema import editions\n"},
            "publisher/mail/render.py:1: publisher.mail.render imports "
            "publisher.store.schema (the pure core imports only shared modules and the core)",
        ),
        (  # a package nobody placed
            {"publisher/admin/views.py": "import publisher.store\n"},
            "publisher/admin/views.py: publisher.admin.views is in no layer: "
            "add its package to LAYERS",
        ),
    ],
)
def test_the_check_finds_a_forbidden_import(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    assert violations(_tree(tmp_path, files)) == [expected]


def test_the_check_allows_imports_downwards_and_within_a_layer(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "publisher/mail/editions.py": "from publisher.store.schema import editions\n"
            "from publisher.mail.render import render_edition\n"
            "from publisher.config import Config\n",
            "publisher/content/articles.py": "from publisher.content.markup import x\n",
        },
    )
    assert violations(root) == []


def test_every_layer_names_packages_of_publisher() -> None:
    for members in LAYERS:
        for member in members:
            assert member == "publisher" or member.startswith("publisher.")
