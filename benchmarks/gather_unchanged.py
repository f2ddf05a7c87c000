"""Gather of N unchanged files against the first gather of the same files.

Usage: python benchmarks/gather_unchanged.py [--articles 10000]
Prints both wall-clock figures and their ratio; it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from publisher.config import config_from_mapping
from publisher.site.gather import gather
from publisher.store.database import open_store

BODY = "\n\n".join(
    f"Paragraph {n} of a benchmark article, with [a link](/articles/other/) and *emphasis*."
    for n in range(6)
)


def write_site(root: Path, count: int) -> Path:
    content = root / "content"
    for number in range(count):
        folder = content / f"section-{number % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"article-{number:05d}.md").write_text(
            "---\n"
            f'title: "Benchmark article {number}"\n'
            f"date: 2026-{1 + number % 12:02d}-{1 + number % 28:02d}T09:00:00\n"
            "author: Bench Writer\n"
            f"categories: [Section {number % 20}]\n"
            "---\n\n" + BODY + "\n",
            encoding="utf-8",
        )
    return content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_site(root, arguments.articles)
        config = config_from_mapping(
            {
                "site": {"title": "Bench", "url": "https://bench.example.org/", "author": "Bench"},
                "store": {"url": "sqlite:///bench.db"},
            },
            root / "config.toml",
        )
        with open_store(config.store_url) as store:
            started = time.perf_counter()
            first = gather(store, config)
            first_seconds = time.perf_counter() - started
            started = time.perf_counter()
            second = gather(store, config)
            second_seconds = time.perf_counter() - started
    assert first.new == arguments.articles
    assert second.unchanged == arguments.articles
    print(f"articles:                   {arguments.articles}")
    print(f"first gather (parse+store): {first_seconds:8.3f} s")
    print(f"gather of unchanged files:  {second_seconds:8.3f} s")
    print(f"ratio first/unchanged:      {first_seconds / second_seconds:8.1f}x")


if __name__ == "__main__":
    main()
