"""`publisher publish` on a generated 10,000-article site, beside Pelican (and Hugo if installed).

Usage: python benchmarks/publish_corpus.py [--articles 10000] [--repeat 3] [--seed 21] [--static]
                                           [--skip-pelican] [--baseline PATH] [--levers]

Generates one corpus (seeded, so every run sees the same text): articles of 600-1,500 words in
8 categories with 200 tags by 40 authors, one in 50 with an audio episode, written twice into a
temp folder: as a publisher site (the sample's feed settings: 50 items, RSS + Atom + JSON Feed,
archive pages of 5, a podcast feed) and as a Pelican site whose settings write the feeds only
(all, per category, per author; Atom and RSS, 50 items, full content) and no page. Then, each
a median of --repeat runs, process start included:
- first: `publisher publish` from an empty store and an empty feeds folder;
- unchanged: `publisher publish` again with nothing changed (goal: under 1 s);
- one edit: `publisher publish` after one article's text changed; the feeds written must be
  exactly those the article appears in;
- pelican: `pelican` on the same articles, from an empty output folder, its cache off;
- hugo: when a `hugo` binary is on the PATH (it is not installable on this machine).
Prints each figure and the ratios (goal: first run at least 3x faster than Pelican).
--baseline PATH runs the same publishes with the publisher checkout at PATH on the PYTHONPATH,
for before/after figures. --levers also times, in this process, each part of a first publish
against the code it replaced: YAML front matter (pure-Python SafeLoader vs libyaml), Markdown
(markdown-it-py vs the parser in `publisher.content.markup`, checking the sanitized HTML is
identical on every article), and the whole parse serially vs in the process pool.
It is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

CATEGORIES = ["News", "Business", "Culture", "Science", "Sport", "Travel", "Food", "Opinion"]
FIRST_NAMES = ["Mara", "Iain", "Noor", "Tomas", "Ada", "Kofi", "Lena", "Ravi", "Sade", "Wen"]
LAST_NAMES = ["Quinn", "Okafor", "Lindqvist", "Moreau"]
VOCABULARY = """\
harbour estuary tide council quay ferry market festival river bridge school library museum
weather storm fishing boat crew lighthouse island coast village town mayor budget plan
report study science research data energy wind solar power grid water supply road rail
station train bus cycle path park garden forest hill valley farm harvest bread cheese music
concert theatre film book author poet painter gallery exhibition history archive record
election vote campaign debate policy housing rent price wage job trade shop cafe restaurant
kitchen recipe season summer winter spring autumn morning evening night week month year
family child parent neighbour friend visitor volunteer team match goal league season coach
player runner swimmer sailor race course track field court judge law police health hospital
doctor nurse clinic care service community meeting hall church square street corner building
tower crane dock warehouse factory office worker union strike deal
"""
WORDS = VOCABULARY.split()
EDITED = 5_000  # the article the one-edit run changes (its number, capped by --articles)


@dataclass(frozen=True, slots=True)
class CorpusArticle:
    number: int
    title: str
    slug: str
    date: datetime
    category: str
    tags: tuple[str, ...]
    author: str
    audio: bool
    body: str


def corpus(count: int, seed: int) -> list[CorpusArticle]:
    """`count` articles, the same ones for the same seed."""
    rng = random.Random(seed)
    authors = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    tags = [f"{WORDS[n % len(WORDS)]}-{n // len(WORDS) + 1}" for n in range(200)]
    start = datetime(2014, 1, 1, 7, 0, tzinfo=UTC)
    articles = []
    for number in range(count):
        title_words = rng.sample(WORDS, rng.randint(3, 7))
        articles.append(
            CorpusArticle(
                number=number,
                title=" ".join(title_words).capitalize() + f" ({number})",
                slug=f"article-{number:05d}",
                date=start + timedelta(hours=7 * number, minutes=rng.randint(0, 59)),
                category=rng.choice(CATEGORIES),
                tags=tuple(sorted(rng.sample(tags, rng.randint(2, 5)))),
                author=rng.choice(authors),
                audio=number % 50 == 0,
                body=_body(rng, rng.randint(600, 1500)),
            )
        )
    return articles


def _sentence(rng: random.Random, length: int) -> str:
    words = [rng.choice(WORDS) for _ in range(length)]
    if length > 8 and rng.random() < 0.3:
        at = rng.randrange(length - 2)
        words[at] = f"*{words[at]}*"
    if length > 8 and rng.random() < 0.2:
        at = rng.randrange(length - 2)
        words[at] = f'[{words[at]}](https://example.org/{words[at]} "About {words[at]}")'
    if length > 8 and rng.random() < 0.1:
        at = rng.randrange(length - 2)
        words[at] = f"`{words[at]}()`"
    return " ".join(words).capitalize() + "."


def _body(rng: random.Random, words: int) -> str:
    blocks: list[str] = []
    written = 0
    while written < words:
        kind = rng.random()
        if blocks and kind < 0.08:
            blocks.append("## " + " ".join(rng.sample(WORDS, 4)).capitalize())
            written += 4
        elif blocks and kind < 0.14:
            items = [" ".join(rng.sample(WORDS, 5)) for _ in range(rng.randint(2, 5))]
            blocks.append("\n".join(f"- {item}" for item in items))
            written += 5 * len(items)
        elif blocks and kind < 0.17:
            blocks.append("> " + _sentence(rng, 20))
            written += 20
        elif blocks and kind < 0.19:
            blocks.append(
                "```\n" + "\n".join(f"{w} = {n}" for n, w in enumerate(WORDS[:4])) + "\n```"
            )
            written += 12
        else:
            sentences = [_sentence(rng, rng.randint(8, 22)) for _ in range(rng.randint(2, 6))]
            blocks.append(" ".join(sentences))
            written += sum(len(s.split()) for s in sentences)
    return "\n\n".join(blocks) + "\n"


PUBLISHER_CONFIG = """\
[site]
title = "Corpus Gazette"
url = "https://corpus.example.org/"
description = "A generated site for measuring publish times."
language = "en-GB"
timezone = "Europe/London"
author = { name = "Corpus newsroom", email = "newsroom@corpus.example.org" }
# Pelican is measured writing the feeds alone, so publisher writes no static pages either.
static = false

[store]
url = "sqlite:///publisher.db"

[feeds]
max_items = 50
formats = ["rss", "atom", "json"]
archive_page_size = 5
content = "full"

[feeds.podcast]
title = "Corpus Audio"
category = "News"
owner = { name = "Corpus newsroom", email = "newsroom@corpus.example.org" }
"""

# Pelican writes the feeds and nothing else: no article, page, index, tag, category or author
# page, no direct template, no static file; Atom and RSS for all articles, each category and
# each author, in full, 50 items, as the publisher site has them.
PELICAN_CONFIG = """\
AUTHOR = "Corpus newsroom"
SITENAME = "Corpus Gazette"
SITEURL = "https://corpus.example.org"
PATH = "content"
TIMEZONE = "Europe/London"
DEFAULT_LANG = "en"
ARTICLE_SAVE_AS = ""
ARTICLE_LANG_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
PAGE_SAVE_AS = ""
PAGE_LANG_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
DRAFT_PAGE_LANG_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
TAG_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
DIRECT_TEMPLATES = []
STATIC_PATHS = []
THEME_STATIC_PATHS = []
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
CATEGORY_FEED_ATOM = "feeds/categories/{slug}.atom.xml"
CATEGORY_FEED_RSS = "feeds/categories/{slug}.rss.xml"
AUTHOR_FEED_ATOM = "feeds/authors/{slug}.atom.xml"
AUTHOR_FEED_RSS = "feeds/authors/{slug}.rss.xml"
TAG_FEED_ATOM = None
TAG_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
FEED_MAX_ITEMS = 50
RSS_FEED_SUMMARY_ONLY = False
CACHE_CONTENT = False
LOAD_CONTENT_CACHE = False
"""


def publisher_source(article: CorpusArticle) -> str:
    """The article as a publisher Markdown file with YAML front matter."""
    audio = ""
    if article.audio:
        audio = (
            f"audio:\n  url: https://cdn.corpus.example.org/{article.slug}.mp3\n"
            f'  duration: "{10 + article.number % 50}:{article.number % 60:02d}"\n'
            f"  length: {1_000_000 + article.number}\n  type: audio/mpeg\n"
        )
    return (
        "---\n"
        f'title: "{article.title}"\n'
        f"date: {article.date:%Y-%m-%dT%H:%M:%SZ}\n"
        f"author: {article.author}\n"
        f"categories: [{article.category}]\n"
        f"tags: [{', '.join(article.tags)}]\n"
        f"{audio}"
        "---\n\n" + article.body
    )


def pelican_source(article: CorpusArticle) -> str:
    """The article as a Pelican Markdown file with its metadata lines."""
    return (
        f"Title: {article.title}\n"
        f"Date: {article.date:%Y-%m-%d %H:%M}\n"
        f"Slug: {article.slug}\n"
        f"Category: {article.category}\n"
        f"Tags: {', '.join(article.tags)}\n"
        f"Author: {article.author}\n\n" + article.body
    )


# With --static both write their pages too: publisher its whole static site, Pelican its
# defaults (articles, indexes, categories, tags, authors, archives) beside the same feeds.
PELICAN_PAGES = (
    "\n".join(line for line in PELICAN_CONFIG.splitlines() if not line.endswith(('= ""', "= []")))
    + "\n"
)


def write_sites(
    root: Path, articles: list[CorpusArticle], static: bool = False
) -> tuple[Path, Path]:
    """The publisher site and the Pelican site, each with the same articles."""
    publisher_site, pelican_site = root / "publisher", root / "pelican"
    for site, render in ((publisher_site, publisher_source), (pelican_site, pelican_source)):
        for article in articles:
            path = article_path(site, article).with_suffix(".md")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(article), encoding="utf-8")
    config = PUBLISHER_CONFIG.replace(
        "static = false", "static = true" if static else "static = false"
    )
    (publisher_site / "config.toml").write_text(config, encoding="utf-8")
    pelican = PELICAN_PAGES if static else PELICAN_CONFIG
    (pelican_site / "pelicanconf.py").write_text(pelican, encoding="utf-8")
    return publisher_site, pelican_site


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    cpu_seconds: float  # user + system: steadier than wall time on a shared machine
    output: str

    def written(self) -> int:
        """The feed files the build wrote, from its summary line."""
        found = re.search(r"build: (\d+) written", self.output)
        return int(found.group(1)) if found else -1

    def pages_rendered(self) -> str:
        """The static pages the build rendered, from its summary line ("" without a site)."""
        found = re.search(r"site: .*?(\d+) pages rendered", self.output)
        return f", {found.group(1)} pages rendered" if found else ""


def timed(command: list[str], cwd: Path, environ: dict[str, str]) -> Run:
    """Run `command` to its end; the wall-clock time it took, process start included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu, done.stdout + done.stderr)


def publisher_environ(checkout: Path | None) -> dict[str, str]:
    environ = dict(os.environ)
    if checkout is not None:
        environ["PYTHONPATH"] = str(checkout)
    return environ


def empty_publisher_site(site: Path) -> None:
    for name in ("publisher.db", "publisher.db-wal", "publisher.db-shm"):
        (site / name).unlink(missing_ok=True)
    shutil.rmtree(site / "feeds", ignore_errors=True)
    # The static site too: its manifest would tell the pages are current (as Pelican's output).
    shutil.rmtree(site / "site", ignore_errors=True)


def median(runs: list[Run]) -> float:
    return statistics.median(run.seconds for run in runs)


def median_cpu(runs: list[Run]) -> float:
    return statistics.median(run.cpu_seconds for run in runs)


def figure(runs: list[Run]) -> str:
    """Median wall time, and median CPU time beside it."""
    return f"{median(runs):8.2f} s ({median_cpu(runs):7.2f} s CPU)"


@dataclass(frozen=True, slots=True)
class PublishFigures:
    first: list[Run]
    unchanged: list[Run]
    edited: list[Run]


def measure_publisher(
    site: Path, repeat: int, environ: dict[str, str], edit: Callable[[int], None]
) -> PublishFigures:
    """First, unchanged and one-edit publishes, each `repeat` times."""
    command = [sys.executable, "-m", "publisher", "--config", "config.toml", "publish"]
    first, unchanged, edited = [], [], []
    for attempt in range(repeat):
        empty_publisher_site(site)
        first.append(timed(command, site, environ))
        # Cheap: three each time, so the median of the unchanged runs is of three at least.
        unchanged += [timed(command, site, environ) for _ in range(3)]
        edit(attempt)
        edited.append(timed(command, site, environ))
    return PublishFigures(first, unchanged, edited)


def article_path(site: Path, article: CorpusArticle) -> Path:
    return site / "content" / article.category.lower() / str(article.date.year) / article.slug


def edit_article(site: Path, article: CorpusArticle) -> Callable[[int], None]:
    """A function that changes the text of `article` (differently each time)."""
    path = article_path(site, article).with_suffix(".md")
    edits = itertools.count()  # a new text at every call, from whichever checkout runs next

    def edit(attempt: int) -> None:
        text = publisher_source(article)
        path.write_text(text + f"\nA sentence added in edit {next(edits)}.\n", encoding="utf-8")

    return edit


def feeds_with(site: Path, slug: str) -> int:
    """How many feed files hold the article `slug` (by its URL)."""
    needle = f"/articles/{slug}/".encode()
    return sum(
        needle in path.read_bytes() for path in (site / "feeds").rglob("*") if path.is_file()
    )


def measure_pelican(site: Path, repeat: int) -> list[Run]:
    command = [sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py", "-o", "output"]
    runs = []
    for _ in range(repeat):
        shutil.rmtree(site / "output", ignore_errors=True)
        runs.append(timed(command, site, dict(os.environ)))
    return runs


def print_publisher(label: str, figures: PublishFigures, expected_edit: int) -> None:
    print(
        f"{label} first publish (empty store):   {figure(figures.first)}"
        f"  ({figures.first[-1].written()} feed files written{figures.first[-1].pages_rendered()})"
    )
    print(
        f"{label} publish, nothing changed:      {figure(figures.unchanged)}"
        f"  ({figures.unchanged[-1].written()} written{figures.unchanged[-1].pages_rendered()})"
    )
    print(
        f"{label} publish, one article edited:   {figure(figures.edited)}"
        f"  ({figures.edited[-1].written()} written; the article is in {expected_edit}"
        f"{figures.edited[-1].pages_rendered()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--skip-pelican", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another publisher checkout, for 'before'")
    parser.add_argument("--levers", action="store_true", help="time each lever in process")
    parser.add_argument("--keep", type=Path, help="write the corpus here and keep it")
    parser.add_argument(
        "--static", action="store_true", help="publisher writes its static site, Pelican its pages"
    )
    arguments = parser.parse_args()
    articles = corpus(arguments.articles, arguments.seed)
    with tempfile.TemporaryDirectory() as folder:
        root = arguments.keep or Path(folder)
        publisher_site, pelican_site = write_sites(root, articles, arguments.static)
        edited = articles[min(EDITED, len(articles) - 1)]
        print(
            f"corpus: {len(articles)} articles, {len(CATEGORIES)} categories, 200 tags, "
            f"{len(FIRST_NAMES) * len(LAST_NAMES)} authors, seed {arguments.seed}; "
            f"medians of {arguments.repeat}"
        )
        if arguments.levers:
            from publish_levers import measure_levers  # beside this file

            measure_levers(publisher_site)
        figures = measure_publisher(
            publisher_site,
            arguments.repeat,
            publisher_environ(None),
            edit_article(publisher_site, edited),
        )
        in_edited = feeds_with(publisher_site, edited.slug)
        print_publisher("publisher", figures, in_edited)
        if arguments.baseline is not None:
            before = measure_publisher(
                publisher_site,
                arguments.repeat,
                publisher_environ(arguments.baseline),
                edit_article(publisher_site, edited),
            )
            print_publisher("baseline ", before, in_edited)
            speedup = median(before.first) / median(figures.first)
            print(f"first publish, baseline / now:       {speedup:8.1f}x")
        if not arguments.skip_pelican:
            pelican = measure_pelican(pelican_site, arguments.repeat)
            kind = "feeds and pages" if arguments.static else "feeds only"
            print(f"pelican ({kind}):{' ' * (27 - len(kind))}{figure(pelican)}")
            ratio = median(pelican) / median(figures.first)
            cpu_ratio = median_cpu(pelican) / median_cpu(figures.first)
            print(
                f"pelican / publisher first publish:   {ratio:8.1f}x"
                f" ({cpu_ratio:.1f}x in CPU time; goal: at least 3x)"
            )
        hugo = shutil.which("hugo")
        if hugo is None:
            print(
                "hugo: not installed (not installable on this machine); the issue's anchor is "
                "7.3 s for its feeds alone"
            )
        print(f"unchanged publish under 1 s:         {median(figures.unchanged) < 1.0}")
        print(f"one edit wrote only its feeds:       {figures.edited[-1].written() == in_edited}")


if __name__ == "__main__":
    main()
