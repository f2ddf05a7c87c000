"""Render once and personalize, against inlining CSS with premailer for every subscriber.

Usage: python benchmarks/digest_render.py [--subscribers 10000] [--sample 200] [--articles 10]

Builds a digest edition from the bundled sample site, then measures in the same run:
- render once: `render_edition` once, plus `personalize` for every subscriber;
- premailer per subscriber: `render_for_recipient` for a sample of subscribers, extrapolated.
Prints the cost per subscriber of each and their ratio; it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from publisher.config import load_config
from publisher.mail.render import (
    EditionInfo,
    Recipient,
    personalize,
    render_edition,
    render_for_recipient,
    template_environment,
)
from publisher.site.gather import gather
from publisher.store.articles import public_articles
from publisher.store.database import open_store

REPO = Path(__file__).resolve().parent.parent
# The sample site's "now", as in tests/conftest.py: after every sample article but one.
SAMPLE_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NAMES = ["Ada Lovelace", "Zoë Ångström", "山田 太郎", 'O\'Brien & "Co"', "Sam 🦊", ""]


def subscribers(count: int) -> list[Recipient]:
    return [
        Recipient(
            name=f"{NAMES[number % len(NAMES)]} {number}".strip(),
            email=f"reader{number}@example.org",
            unsubscribe_url=f"https://gazette.example.org/unsubscribe/{number:08x}?list=daily",
        )
        for number in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--articles", type=int, default=10)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(REPO / "content", root / "content")
        shutil.copy(REPO / "config.toml", root / "config.toml")
        config = load_config(root / "config.toml")
        with open_store(f"sqlite:///{root / 'bench.db'}") as store:
            gather(store, config, lambda: SAMPLE_NOW)
            with store.transaction() as connection:
                articles = public_articles(connection, limit=arguments.articles)
    digest = config.digest("daily")
    edition = EditionInfo(1, SAMPLE_NOW, f"{config.archive_url}daily/1.html")
    environment = template_environment(None)
    everyone = subscribers(arguments.subscribers)
    # Warm up: parse the templates and the stylesheet once, outside both measurements.
    render_for_recipient(environment, config, digest, edition, articles, everyone[0])

    started = time.perf_counter()
    rendered = render_edition(environment, config, digest, edition, articles)
    render_seconds = time.perf_counter() - started
    sample = everyone[: arguments.sample]
    kept = []
    # Like a real send, each message is dropped once made; the sample's are kept for the check.
    for number, recipient in enumerate(everyone):
        message = personalize(rendered, recipient)
        if number < len(sample):
            kept.append(message)
    once_seconds = time.perf_counter() - started

    started = time.perf_counter()
    full = [
        render_for_recipient(environment, config, digest, edition, articles, recipient)
        for recipient in sample
    ]
    full_seconds = time.perf_counter() - started

    assert full == kept, "personalize differs from a full render"
    once_each = once_seconds / len(everyone)
    full_each = full_seconds / len(sample)
    print(f"articles per edition:              {len(articles)}")
    print(f"subscribers:                       {len(everyone)}")
    print(f"render_edition (once):             {render_seconds * 1000:10.1f} ms")
    print(f"render once + personalize, total:  {once_seconds:10.3f} s")
    print(f"  per subscriber:                  {once_each * 1e6:10.1f} µs")
    personalize_each = (once_seconds - render_seconds) / len(everyone)
    print(f"  of which personalize alone:      {personalize_each * 1e6:10.1f} µs")
    print(f"premailer per subscriber ({len(sample)} run):")
    print(f"  per subscriber:                  {full_each * 1e6:10.1f} µs")
    print(f"  extrapolated to everyone:        {full_each * len(everyone):10.3f} s")
    print(f"ratio (premailer each / once):     {full_each / once_each:10.1f}x")
    print(f"checked: {len(sample)} personalized editions equal their full render, byte for byte")


if __name__ == "__main__":
    main()
