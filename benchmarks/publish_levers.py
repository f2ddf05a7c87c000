"""Each lever of a faster first publish, timed in this process against the code it replaced.

Called by `publish_corpus.py --levers` on the generated publisher site; prints CPU seconds:
- front matter: PyYAML's pure-Python SafeLoader against the libyaml loader articles use now,
  with the same resolvers; the loaded values must be identical;
- Markdown: markdown-it-py (the parser used before) against `render_markdown`, both sanitized,
  and the first paragraph read from markdown-it-py's tokens against `first_paragraph_text`;
  the HTML and the summaries must be identical for every article;
- store: one INSERT per article (and a look-up of a withdrawn row before each) against the
  batched inserts gather makes now, into two fresh SQLite stores.
It is a measurement, not a test.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from publisher.config import load_config
from publisher.content.articles import article_guid, parse_article, read_front_matter
from publisher.content.markup import (
    first_paragraph_text,
    plain_text,
    render_markdown,
    sanitize_html,
    strip_forbidden_characters,
    url_resolver,
)
from publisher.site.gather import media_lookup, scan_content, site_settings
from publisher.store.articles import article_values, insert_articles
from publisher.store.database import open_store
from publisher.store.schema import articles
from publisher.store.statuses import ArticleStatus

Result = TypeVar("Result")


class _PurePythonLoader(yaml.SafeLoader):
    """The front matter loader before libyaml: dates kept as text, as now."""


_PurePythonLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_reference = MarkdownIt("commonmark", {"html": True}).enable("table")


def cpu(work: Callable[[], Result]) -> tuple[float, Result]:
    started = time.process_time()
    result = work()
    return time.process_time() - started, result


def reference_first_paragraph(body: str) -> str:
    tokens = _reference.parse(strip_forbidden_characters(body))
    for opening, inline in itertools.pairwise(tokens):
        if opening.type == "paragraph_open" and inline.type == "inline":
            text = plain_text("".join(_inline_text(inline.children or [])))
            if text:
                return text
    return ""


def _inline_text(children: list[Token]) -> list[str]:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.extend(_inline_text(child.children or []))
    return parts


def measure_levers(site: Path) -> None:
    """Print the before and after CPU time of each lever on the articles of `site`."""
    config = load_config(site / "config.toml")
    files = sorted(scan_content(config.content_dir), key=lambda file: file.source)
    raw = [(file.source, file.path.read_bytes()) for file in files]
    split = [read_front_matter(source, data) for source, data in raw]
    print(f"levers, in this process, on {len(raw)} articles (CPU seconds):")

    before, old = cpu(lambda: [yaml.load(f.front_text, Loader=_PurePythonLoader) for f in split])
    after, new = cpu(lambda: [read_front_matter(s, d).data for s, d in raw])
    same = repr(old) == repr(new)
    print(
        f"  front matter, pure-Python YAML -> libyaml: {before:7.2f} -> {after:6.2f}  same: {same}"
    )

    resolve = url_resolver(config.site.url, config.media_url, "a/b.md", config.site.url)
    bodies = [f.body for f in split]

    def reference_html() -> list[str]:
        return [
            strip_forbidden_characters(sanitize_html(_reference.render(body), resolve))
            for body in bodies
        ]

    before, old_html = cpu(reference_html)
    after, new_html = cpu(lambda: [render_markdown(body, resolve) for body in bodies])
    print(
        f"  Markdown HTML, markdown-it-py -> Rust:     {before:7.2f} -> {after:6.2f}"
        f"  same: {old_html == new_html}  (nh3 sanitizing included in both)"
    )
    before, old_text = cpu(lambda: [reference_first_paragraph(body) for body in bodies])
    after, new_text = cpu(lambda: [first_paragraph_text(body) for body in bodies])
    same = old_text == new_text
    print(
        f"  summaries, tokens -> Rust tree:            {before:7.2f} -> {after:6.2f}  same: {same}"
    )

    site_settings_, media = site_settings(config), media_lookup(config.content_dir)
    elapsed, parsed = cpu(lambda: [parse_article(s, d, site_settings_, media) for s, d in raw])
    print(f"  parse_article (all of the above):          {'':7} -> {elapsed:6.2f}")
    rows = [
        article_values(article)
        | {
            "guid": article_guid(article, config.site.url),
            "status": ArticleStatus.PUBLIC,
            "updated_at": article.date,
            "first_seen_at": article.date,
            "withdrawn_at": None,
            "content_hash": "0" * 64,
            "file_size": 0,
            "file_mtime_ns": 0,
        }
        for article in parsed
    ]
    before = _store_rows(rows, batched=False)
    after = _store_rows(rows, batched=True)
    print(f"  store, a row and a look-up each -> batches: {before:6.2f} -> {after:6.2f}")


def _store_rows(rows: list[dict[str, Any]], *, batched: bool) -> float:
    with tempfile.TemporaryDirectory() as folder, open_store(f"sqlite:///{folder}/s.db") as store:
        started = time.process_time()
        with store.transaction() as connection:
            if batched:
                for start in range(0, len(rows), 500):
                    insert_articles(connection, rows[start : start + 500])
            else:
                for row in rows:
                    connection.scalar(
                        sa.select(articles.c.id).where(
                            articles.c.guid == row["guid"],
                            articles.c.status == ArticleStatus.WITHDRAWN,
                        )
                    )
                    connection.execute(articles.insert().values(**row).returning(articles.c.id))
        return time.process_time() - started
