"""The `publisher` command as a user runs it: real processes, real files, exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import feedparser

from tests.conftest import REPO, Site, run_publisher


def run(
    site: Site, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_publisher(site.root, *args, **(env or {}))


def test_publish_on_the_sample_site_writes_the_feeds(bare_site: Site) -> None:
    result = run(bare_site, "publish")
    assert result.returncode == 0, result.stderr
    assert (
        "gather: 16 new, 0 updated, 0 withdrawn, 14 published, 1 scheduled, 0 errors"
        in result.stdout
    )
    assert "build: 45 written" in result.stdout  # 12 feeds in 3 formats, 3 archive files of 2 pages
    assert feedparser.parse(bare_site.feeds / "rss.xml").bozo == 0
    assert (bare_site.root / "publisher.db").exists()


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
    assert "build: 45 written, 0 unchanged, 0 removed" in result.stdout
    again = run(site, "build")
    assert "build: 0 written, 45 unchanged, 0 removed" in again.stdout


def test_store_url_comes_from_the_environment(bare_site: Site, tmp_path: Path) -> None:
    database = tmp_path / "from-env.db"
    result = run(bare_site, "gather", env={"PUBLISHER_STORE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    assert database.exists()
    assert not (bare_site.root / "publisher.db").exists()


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


# Digests, subscribers and sending -------------------------------------------------------------


def test_digest_create_twice_makes_one_edition_then_says_nothing_new(site: Site) -> None:
    assert run(site, "gather").returncode == 0
    first = run(site, "digest", "create", "daily")
    assert first.returncode == 0, first.stderr
    assert "daily: edition 1 (#1) with 14 articles" in first.stdout
    second = run(site, "digest", "create", "daily")
    assert second.returncode == 0
    assert "nothing new since the last edition" in second.stdout
    assert (site.root / "archive" / "daily" / "1.html").exists()
    listed = run(site, "digest", "list")
    assert "not sent" in listed.stdout


def test_digest_create_with_the_same_slot_returns_the_same_edition(site: Site) -> None:
    run(site, "gather")
    slot = "2026-10-25T01:30 Europe/London"
    assert "edition 1" in run(site, "digest", "create", "daily", "--slot", slot).stdout
    again = run(site, "digest", "create", "daily", "--slot", slot)
    assert "already has edition 1" in again.stdout


def test_digest_preview_writes_two_files_and_prints_their_paths(site: Site, tmp_path: Path) -> None:
    run(site, "gather")
    result = run(site, "digest", "preview", "culture", "--out", str(tmp_path / "preview"))
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert [Path(p).name for p in paths] == ["preview.html", "preview.txt"]
    assert all(Path(p).exists() for p in paths)
    assert "no editions yet" in run(site, "digest", "list").stdout


def test_subscribers_add_refuses_a_bad_address_with_the_reason(site: Site) -> None:
    result = run(site, "subscribers", "add", "not-an-address")
    assert result.returncode == 1
    assert "bad address 'not-an-address': An email address must have an @-sign." in result.stderr
    assert "Traceback" not in result.stderr


def test_subscribers_add_resubscribes_who_left_only_when_told_to(site: Site) -> None:
    assert run(site, "subscribers", "add", "gone@example.org").returncode == 0
    assert run(site, "subscribers", "remove", "gone@example.org").returncode == 0
    refused = run(site, "subscribers", "add", "gone@example.org")
    assert refused.returncode == 1
    assert "gone@example.org is unsubscribed: add --resubscribe" in refused.stderr
    again = run(site, "subscribers", "add", "gone@example.org", "--resubscribe")
    assert again.returncode == 0, again.stderr
    assert "updated gone@example.org (confirmed;" in again.stdout


def test_subscribers_import_names_bad_rows_and_imports_the_rest(site: Site) -> None:
    csv_file = site.root / "people.csv"
    csv_file.write_text("email,name,digests\nok@example.org,Ok,daily\nbroken,B,daily\n")
    result = run(site, "subscribers", "import", str(csv_file))
    assert result.returncode == 1
    assert "import: 1 added" in result.stdout
    # Given as an absolute path, shown as typed from the site's folder, FILE:LINE.
    assert result.stderr.startswith("people.csv:3: bad address 'broken'")
    listed = run(site, "subscribers", "list")
    assert "ok@example.org" in listed.stdout
    confirmed = run(site, "subscribers", "list", "--status", "confirmed")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "ok@example.org" in confirmed.stdout
    assert "ok@example.org" not in run(site, "subscribers", "list", "--status", "pending").stdout
    exported = run(site, "subscribers", "export")
    assert exported.stdout.splitlines()[1].startswith("ok@example.org,Ok,daily,confirmed,")


def test_publish_with_digest_mails_the_sample_subscribers_into_the_outbox(site: Site) -> None:
    import mailbox

    from tests.conftest import REPO

    imported = run(site, "subscribers", "import", str(REPO / "subscribers.csv"))
    assert imported.returncode == 0, imported.stderr
    result = run(site, "publish", "--digest")
    assert result.returncode == 0, result.stderr
    assert "daily: edition 1 (#1) with 14 articles" in result.stdout
    box = mailbox.Maildir(site.root / "outbox", create=False)
    assert len(box) == 6  # 4 daily readers, 2 culture readers
    again = run(site, "publish", "--digest")
    assert "nothing new" in again.stdout
    assert len(mailbox.Maildir(site.root / "outbox", create=False)) == 6
    assert "6 sent" not in run(site, "digest", "list").stdout  # counted per edition
    assert "4 sent" in run(site, "digest", "list").stdout


def test_config_is_accepted_after_the_subcommand_too(site: Site) -> None:
    moved = site.config_path.rename(site.root / "elsewhere.toml")
    missing = run(site, "status")
    assert missing.returncode == 1
    assert "publisher init" in missing.stderr
    for args in (["--config", str(moved), "check"], ["check", "--config", str(moved)]):
        result = run(site, *args)
        assert result.returncode == 0, result.stderr
    assert run(site, "check", f"--config={moved}").returncode == 0


def test_square_brackets_in_data_are_shown_never_read_as_markup(site: Site) -> None:
    added = run(site, "subscribers", "add", "brackets@example.org", "--name", "[/x] [bold]Eve")
    assert added.returncode == 0, added.stderr
    listed = run(site, "subscribers", "list")
    assert listed.returncode == 0, listed.stderr
    assert "[/x] [bold]Eve" in listed.stdout
    shown = run(site, "subscribers", "show", "brackets@example.org")
    assert shown.returncode == 0, shown.stderr


def test_an_article_holding_the_old_placeholder_text_goes_out_in_its_digest(site: Site) -> None:
    site.write_article(
        "news/reserved.md",
        "---\ntitle: x-publisher-subscriber-email-7f3c9e2a5b1d\ndate: 2026-11-20T10:00:00\n"
        "---\nx-publisher-if-name-7f3c9e2a5b1d\n",
    )
    result = run(site, "publish", "--digest")
    assert result.returncode == 0, result.stderr
    assert "daily: edition 1 (#1)" in result.stdout


def test_a_digest_that_fails_never_stops_the_others(site: Site) -> None:
    # The daily's subject names an article it does not have: that digest cannot be made.
    text = site.config_path.read_text(encoding="utf-8")
    broken = text.replace(
        'subject = "{{ site.title }}: {{ edition.date | date }}"',
        'subject = "{{ articles[99].title }}"',
    )
    assert broken != text
    site.config_path.write_text(broken, encoding="utf-8")
    result = run(site, "publish", "--digest")
    assert result.returncode == 1
    assert "digest daily:" in result.stderr
    assert "culture: edition 1 (#1)" in result.stdout
    assert "Traceback" not in result.stderr
    created = run(site, "digest", "create")
    assert created.returncode == 1
    assert "culture:" in created.stdout


def test_exit_statuses_are_the_ones_the_readme_states(site: Site) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "Exit status: 0 on success; 1 on an error" in readme
    assert "2 on a usage error" in readme
    assert run(site, "check").returncode == 0
    error = run(site, "digest", "create", "no-such-digest")
    assert error.returncode == 1
    assert len(error.stderr.splitlines()) == 1
    assert "Traceback" not in error.stderr
    for usage in (["no-such-command"], ["send", "--no-such-option"], ["send", "not-a-number"]):
        result = run(site, *usage)
        assert result.returncode == 2, usage
        assert "Usage:" in result.stderr


def test_check_never_says_valid_while_it_reports_an_error(site: Site) -> None:
    # Item 19 of issue 20: "config is valid" above "templates folder not found".
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(f'{text}\n[templates]\ndir = "missing"\n', encoding="utf-8")
    result = run(site, "check")
    assert result.returncode == 1
    assert "valid" not in result.stdout
    assert result.stdout.startswith("check: config config.toml has problems; 16 articles, ")
    errors = result.stderr.strip().splitlines()
    assert errors
    assert all("missing: templates folder not found ([templates] dir)" in e for e in errors)
    assert "Traceback" not in result.stderr
