"""`publisher init`: a new site that publishes at once, and never overwrites one."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import load_config
from publisher.content.markup import plain_text
from publisher.errors import ConfigError
from publisher.site.gather import check_content
from publisher.site.newsite import (
    PLACEHOLDERS,
    SiteAnswers,
    SiteExistsError,
    bundled_template_files,
    create_site,
    site_files,
    toml_string,
)
from tests.conftest import REPO, publisher_environment, run_publisher

NOW = datetime(2026, 11, 28, 9, 41, 27, tzinfo=UTC)
ANSWERS = SiteAnswers(
    title='Tide "Times" \\ Ōarai',
    url="https://tides.example.org/",
    sender="Tide Times <tides@example.org>",
    postal_address="1 Quay Street, Port Alder",
)
PROMPT_DEADLINE_SECONDS = 60


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(folder, *args)


@given(st.text())
def test_toml_string_reads_back_as_the_same_text(value: str) -> None:
    assert tomllib.loads(f"key = {toml_string(value)}")["key"] == value


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1).filter(lambda title: "\r" not in title and "\n" not in title))
def test_any_title_makes_a_site_whose_config_and_article_read_it_back(title: str) -> None:
    answers = SiteAnswers(title, ANSWERS.url, ANSWERS.sender, ANSWERS.postal_address)
    with tempfile.TemporaryDirectory() as folder:
        create_site(Path(folder), answers, NOW)
        config = load_config(Path(folder) / "config.toml")
        assert config.site.title == title
        articles, errors = check_content(config)
        assert errors == []
        assert articles[0].title == plain_text(f"Welcome to {title}")


def test_new_site_config_holds_the_answers_and_one_daily_digest(tmp_path: Path) -> None:
    create_site(tmp_path, ANSWERS, NOW)
    config = load_config(tmp_path / "config.toml")
    assert config.site.title == ANSWERS.title
    assert config.site.url == ANSWERS.url
    assert config.mail is not None
    assert config.mail.sender == ANSWERS.sender
    assert config.mail.postal_address == ANSWERS.postal_address
    assert [digest.name for digest in config.digests] == ["daily"]


def test_new_site_config_shows_every_key_of_the_readme(tmp_path: Path) -> None:
    text = site_files(PLACEHOLDERS, NOW)["config.toml"].decode()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    reference = readme.split("## Config reference")[1].split("\n## ")[0]
    first_cells = re.findall(r"^\| (`[^|]+`) \|", reference, flags=re.MULTILINE)
    keys = {token.split()[-1] for cell in first_cells for token in re.findall(r"`([^`]+)`", cell)}
    assert len(keys) > 40
    for key in sorted(keys):
        assert re.search(rf"^#? ?{re.escape(key)} = ", text, flags=re.MULTILINE), key
    for section in ("site", "content", "store", "feeds", "archive", "templates", "mail",
                    "mail.smtp", "delivery", "schedule", "web"):  # fmt: skip
        assert re.search(rf"^#? ?\[{re.escape(section)}\]$", text, flags=re.MULTILINE), section


def test_example_article_is_dated_now_with_a_hero_image(tmp_path: Path) -> None:
    create_site(tmp_path, ANSWERS, NOW)
    articles, errors = check_content(load_config(tmp_path / "config.toml"))
    assert errors == []
    (article,) = articles
    assert article.title == f"Welcome to {ANSWERS.title}"
    assert article.date == NOW.replace(second=0)
    assert article.image is not None
    assert article.image.media_type == "image/png"
    assert article.image.length == (tmp_path / "content/images/welcome.png").stat().st_size


def test_a_bad_answer_is_refused_naming_the_key_and_nothing_is_written(tmp_path: Path) -> None:
    bad = SiteAnswers("Tides", "tides.example.org", ANSWERS.sender, ANSWERS.postal_address)
    with pytest.raises(ConfigError, match=r"site\.url: 'tides\.example\.org' is not an absolute"):
        create_site(tmp_path / "new", bad, NOW)
    assert not (tmp_path / "new").exists()


def test_a_sender_that_is_not_one_address_is_refused(tmp_path: Path) -> None:
    for sender in ("Tide Times", "a@example.org, b@example.org", "Tide <tides.example.org>"):
        bad = SiteAnswers("Tides", ANSWERS.url, sender, ANSWERS.postal_address)
        with pytest.raises(ConfigError, match=r"--from: .* is not one email address"):
            create_site(tmp_path / "new", bad, NOW)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("existing", ["config.toml", "content", "templates"])
def test_init_refuses_to_overwrite_a_site(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).mkdir()
    with pytest.raises(SiteExistsError, match=f"{existing}: already exists"):
        create_site(tmp_path, ANSWERS, NOW, with_templates=True)
    assert [path.name for path in tmp_path.iterdir()] == [existing]


def test_a_folder_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    result = run(tmp_path, "init", "taken/site")
    assert result.returncode == 1
    assert result.stderr == "error: taken/site/config.toml: cannot write: Not a directory\n"


def test_an_existing_gitignore_keeps_its_lines_and_gains_ours(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc\n/feeds/", encoding="utf-8")
    create_site(tmp_path, ANSWERS, NOW)
    lines = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["*.pyc", "/feeds/"]
    assert lines.count("/feeds/") == 1
    assert "/publisher.db" in lines


def test_with_templates_the_site_uses_its_own_copy(tmp_path: Path) -> None:
    create_site(tmp_path, ANSWERS, NOW, with_templates=True)
    bundled = bundled_template_files()
    assert "web/home.html.j2" in bundled
    assert "__init__.py" not in bundled
    for name, data in bundled.items():
        assert (tmp_path / "templates" / name).read_bytes() == data
    assert load_config(tmp_path / "config.toml").templates_dir == tmp_path / "templates"


def test_init_then_publish_digest_works_with_no_edit(tmp_path: Path) -> None:
    made = run(tmp_path, "init", "gazette")
    assert made.returncode == 0, made.stderr
    assert "init: made a new site in gazette (4 files)" in made.stdout
    assert "placeholders for --title, --url, --from, --postal-address" in made.stdout
    assert "next: cd gazette && publisher publish --digest" in made.stdout
    published = run(tmp_path / "gazette", "publish", "--digest")
    assert published.returncode == 0, published.stdout + published.stderr
    feed = feedparser.parse(tmp_path / "gazette/feeds/rss.xml")
    assert [entry.title for entry in feed.entries] == ["Welcome to My Newsletter"]
    assert feed.entries[0].enclosures[0].type == "image/png"
    assert (tmp_path / "gazette/archive/daily/1.html").is_file()


def test_init_twice_is_refused_with_one_line(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    again = run(tmp_path, "init", "--title", "Other")
    assert again.returncode == 1
    assert again.stderr == (
        "error: config.toml: already exists; publisher init makes a new site only where "
        "there is none\n"
    )


def test_git_ignores_what_publisher_makes(tmp_path: Path) -> None:
    assert run(tmp_path, "init", "--title", "Tides").returncode == 0
    assert run(tmp_path, "publish", "--digest").returncode == 0
    (tmp_path / ".publisher-secret").write_text("x", encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    tracked = sorted(line.removeprefix("?? ") for line in status.stdout.splitlines())
    assert tracked == [
        ".gitignore",
        "config.toml",
        "content/images/welcome.png",
        "content/welcome.md",
    ]


def _read_until(descriptor: int, wanted: str, seen: list[str]) -> None:
    deadline = time.monotonic() + PROMPT_DEADLINE_SECONDS
    while wanted not in "".join(seen):
        assert time.monotonic() < deadline, f"no {wanted!r} in {''.join(seen)!r}"
        ready, _, _ = select.select([descriptor], [], [], 0.5)
        if ready:
            seen.append(os.read(descriptor, 4096).decode())


def test_init_asks_on_a_terminal(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher", "init", "tides"],
        cwd=tmp_path,
        env=publisher_environment(),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen: list[str] = []
    try:
        for prompt, answer in (
            ("Title [My Newsletter]: ", "Tide Times"),
            ("Site URL [https://example.org/]: ", "https://tides.example.org/"),
            ("Digests from [My Newsletter <newsletter@example.org>]: ", ""),
            ("Postal address [", "1 Quay Street"),
        ):
            _read_until(controller, prompt, seen)
            os.write(controller, answer.encode() + b"\r")
        _read_until(controller, "next: cd tides", seen)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    assert "placeholders" not in "".join(seen)
    config = load_config(tmp_path / "tides/config.toml")
    assert config.site.title == "Tide Times"
    assert config.site.url == "https://tides.example.org/"
    assert config.mail is not None
    assert config.mail.sender == PLACEHOLDERS.sender
    assert config.mail.postal_address == "1 Quay Street"
