"""The `publisher` command as a user runs it: real processes, real files, exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import feedparser

from tests.conftest import Site


def run(
    site: Site, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PUBLISHER_CONFIG", "PUBLISHER_STORE_URL")
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args],
        cwd=site.root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_publish_on_the_sample_site_writes_the_feeds(site: Site) -> None:
    result = run(site, "publish")
    assert result.returncode == 0, result.stderr
    assert (
        "gather: 16 new, 0 updated, 0 withdrawn, 14 published, 1 scheduled, 0 errors"
        in result.stdout
    )
    assert "build: 15 written" in result.stdout
    assert feedparser.parse(site.feeds / "rss.xml").bozo == 0
    assert (site.root / "publisher.db").exists()


def test_check_validates_and_writes_nothing(site: Site) -> None:
    before = sorted(p.relative_to(site.root) for p in site.root.rglob("*"))
    result = run(site, "check")
    assert result.returncode == 0, result.stderr
    assert "16 articles, 0 errors" in result.stdout
    assert sorted(p.relative_to(site.root) for p in site.root.rglob("*")) == before


def test_broken_article_is_named_by_file_and_line_and_exit_is_non_zero(site: Site) -> None:
    site.write_article("news/broken.md", "---\ntitle: Broken\ndate: 2026-13-45\n---\nBody\n")
    result = run(site, "publish")
    assert result.returncode == 1
    assert "news/broken.md:3: date:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "14 published" in result.stdout
    assert len(feedparser.parse(site.feeds / "rss.xml").entries) == 14


def test_check_reports_broken_articles(site: Site) -> None:
    site.write_article("news/untitled.md", "---\ndate: 2026-11-01\n---\nBody\n")
    result = run(site, "check")
    assert result.returncode == 1
    assert "news/untitled.md:1: missing required `title`" in result.stderr


def test_bad_config_names_the_key_without_a_traceback(site: Site) -> None:
    text = site.config_path.read_text().replace(
        'timezone = "Europe/London"', 'timezone = "Mars/Base"'
    )
    site.config_path.write_text(text)
    result = run(site, "check")
    assert result.returncode == 1
    assert "config.toml: site.timezone: unknown timezone 'Mars/Base'" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_is_chosen_by_option_or_environment(site: Site, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_option = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(site.config_path), "check"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert by_option.returncode == 0, by_option.stderr
    by_env = subprocess.run(
        [sys.executable, "-m", "publisher", "check"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PUBLISHER_CONFIG": str(site.config_path)},
    )
    assert by_env.returncode == 0, by_env.stderr


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "config.toml: config file not found" in result.stderr


def test_gather_then_build_as_separate_commands(site: Site) -> None:
    assert run(site, "gather").returncode == 0
    result = run(site, "build")
    assert result.returncode == 0, result.stderr
    assert "build: 15 written, 0 unchanged, 0 removed" in result.stdout
    again = run(site, "build")
    assert "build: 0 written, 15 unchanged, 0 removed" in again.stdout


def test_store_url_comes_from_the_environment(site: Site, tmp_path: Path) -> None:
    database = tmp_path / "from-env.db"
    result = run(site, "gather", env={"PUBLISHER_STORE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    assert database.exists()
    assert not (site.root / "publisher.db").exists()


def test_newer_store_is_refused_with_a_clear_message(site: Site) -> None:
    import sqlalchemy as sa

    assert run(site, "gather").returncode == 0
    engine = sa.create_engine(f"sqlite:///{site.root / 'publisher.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    result = run(site, "gather")
    assert result.returncode == 1
    assert "newer than this publisher knows" in result.stderr
    assert "Traceback" not in result.stderr
