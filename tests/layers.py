"""The package's layers, read from the imports of every module: who may import whom.

The layers go from the bottom (shared by all) to the top (the command line). A module may import
its own layer and every layer below it, never one above: so no two packages import each other,
directly or through a third. The pure core may import only the shared modules, `content` and
other core modules: no store, no network, no web, daemon or CLI.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Lowest first. A new package (an admin app, an API, translations) takes its place here.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "publisher",  # the package's own face: __version__
        "publisher.errors",
        "publisher.config",
        "publisher.clock",
        "publisher.files",
        "publisher.urls",
        "publisher.wording",
        "publisher.i18n",  # languages: catalogs, text direction, Babel's formats
        "publisher.templates",
    ),
    ("publisher.content",),
    ("publisher.analytics",),  # tracked links: made and checked, pure
    ("publisher.store",),
    ("publisher.operators",),  # admin accounts, sessions, API tokens
    ("publisher.sources",),
    ("publisher.site",),
    ("publisher.audience",),
    ("publisher.mail",),
    ("publisher.inbound",),
    ("publisher.status", "publisher.reports"),
    ("publisher.web",),
    ("publisher.daemon",),
    ("publisher.cli", "publisher.__main__"),
)

CONTENT = 1  # the rank of `publisher.content`
PURE_CORE = (
    "publisher.content",
    "publisher.analytics",
    "publisher.sources.parse",
    "publisher.site.feeds",
    "publisher.mail.render",
    "publisher.mail.personal",
    "publisher.mail.mime",
)


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module, or the module a name is imported from
    line: int


def module_name(root: Path, path: Path) -> str:
    """The dotted name of the module at `path` under `root` (the folder holding `publisher/`)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(root: Path, path: Path) -> Iterator[Import]:
    """Every import of a `publisher` module in the file at `path`, at any depth of the code."""
    module = module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base]
        else:
            continue
        for target in targets:
            if target == "publisher" or target.startswith("publisher."):
                yield Import(module, target, node.lineno)


def layer_of(module: str) -> int | None:
    """The rank of the layer `module` belongs to (longest matching prefix), or None."""
    best: tuple[int, int] | None = None
    for rank, members in enumerate(LAYERS):
        for member in members:
            if module == member or module.startswith(member + "."):
                if member == "publisher" and module != "publisher":
                    continue
                if best is None or len(member) > best[1]:
                    best = (rank, len(member))
    return None if best is None else best[0]


def in_pure_core(module: str) -> bool:
    return any(module == core or module.startswith(core + ".") for core in PURE_CORE)


def violations(root: Path) -> list[str]:
    """Every import that breaks a layer rule, as `path:line: module imports target (why)`."""
    found: list[str] = []
    for path in sorted((root / "publisher").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        where = path.relative_to(root)
        source = module_name(root, path)
        rank = layer_of(source)
        if rank is None:
            found.append(f"{where}: {source} is in no layer: add its package to LAYERS")
            continue
        for found_import in imports_in(root, path):
            target_rank = layer_of(found_import.target)
            at = f"{where}:{found_import.line}: {source} imports {found_import.target}"
            if target_rank is None:
                found.append(f"{at} (in no layer)")
            elif target_rank > rank:
                found.append(f"{at} (a higher layer)")
            elif in_pure_core(source) and not (
                target_rank <= CONTENT or in_pure_core(found_import.target)
            ):
                found.append(f"{at} (the pure core imports only shared modules and the core)")
    return found
