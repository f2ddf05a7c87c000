"""An operator's first hour: what the commands say, said once, in the operator's own terms."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from publisher.audience.imports import import_csv
from publisher.store.database import Store
from tests.conftest import MovableClock, Site, run_publisher, start_publisher
from tests.test_scheduler import SECRET, Output, configure, wait_for

BROKEN = "---\ntitle: Broken\ndate: 2026-13-45\n---\nBody\n"


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(folder, *args)


def test_run_publishes_at_start_and_logs_each_broken_article_once(site: Site) -> None:
    configure(site, publish_every="1h", standby_poll="0.1s")
    site.write_article("news/broken.md", BROKEN)
    process = start_publisher(site, "run", **SECRET)
    output = Output(process)
    try:
        wait_for(lambda: output.has("job publish: done"))
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
    assert (site.feeds / "rss.xml").is_file()
    assert len([line for line in output.lines if "broken.md" in line]) == 1


def test_digest_create_before_any_gather_says_so(site: Site) -> None:
    first = run(site.root, "digest", "create", "daily")
    assert first.returncode == 0, first.stderr
    assert first.stdout == (
        "daily: no articles in the store yet: run `publisher gather` (or `publisher publish`) "
        "first; no edition made\n"
    )
    preview = run(site.root, "digest", "preview", "daily")
    assert preview.stdout == (
        "daily: no articles in the store yet: run `publisher gather` (or `publisher publish`) "
        "first; no preview written\n"
    )
    assert run(site.root, "gather").returncode == 0
    made = run(site.root, "digest", "create", "daily")
    assert made.stdout.startswith("daily: edition 1 (#1) with 14 articles")
    again = run(site.root, "digest", "create", "daily")
    assert again.stdout == "daily: nothing new since the last edition\n"


def test_gather_prints_each_broken_article_once_as_the_user_would_type_it(site: Site) -> None:
    site.write_article("news/broken.md", BROKEN)
    for command in ("gather", "publish", "check"):
        result = run(site.root, command)
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith("content/news/broken.md:3: date:"), (command, line)


def test_paths_in_messages_are_relative_to_the_current_folder(site: Site) -> None:
    site.write_article("news/broken.md", BROKEN)
    parent = site.root.parent
    result = run(parent, "--config", "site/config.toml", "gather")
    assert result.stderr.startswith("site/content/news/broken.md:3: date:")
    inside = run(site.content, "--config", "../config.toml", "gather")
    assert inside.stderr.startswith("news/broken.md:3: date:")
    elsewhere = parent / "elsewhere"
    elsewhere.mkdir()
    outside = run(elsewhere, "--config", "../site/config.toml", "gather")
    assert outside.stderr.startswith(f"{site.root.resolve()}/content/news/broken.md:3: date:")


def test_a_missing_content_folder_is_named_without_a_line_zero(site: Site) -> None:
    shutil.rmtree(site.content)
    result = run(site.root, "gather")
    assert result.returncode == 1
    assert result.stderr == "error: content: content folder does not exist\n"


def test_a_problem_of_the_whole_config_has_no_empty_key_field(site: Site) -> None:
    text = site.config_path.read_text(encoding="utf-8")
    mail = text.index("[mail]")
    site.config_path.write_text(text[:mail] + text[text.index("[[digests]]") :])
    result = run(site.root, "check")
    assert result.returncode == 1
    assert result.stderr == (
        "error: config.toml: mail: a [mail] section (from, postal_address) is required for "
        "digests\n"
    )


def test_a_missing_store_folder_is_named_as_typed(site: Site) -> None:
    config = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(config.replace("sqlite:///publisher.db", "sqlite:///db/x.db"))
    result = run(site.root, "gather")
    assert result.returncode == 1
    assert str(site.root) not in result.stderr
    assert "folder db does not exist" in result.stderr


def test_counts_are_pluralized(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    check = run(tmp_path, "check")
    first, warning = check.stdout.splitlines()
    assert first == "check: config config.toml is valid; 1 article, 0 errors"
    # A new site has no [mail] bounce_address yet: check says what that leaves undone.
    assert warning.startswith("check: warning: bounce handling needs [mail] bounce_address")
    (tmp_path / "content" / "broken.md").write_text(BROKEN, encoding="utf-8")
    published = run(tmp_path, "publish", "--digest")
    assert "1 published, 0 scheduled, 1 error\n" in published.stdout
    assert "daily: edition 1 (#1) with 1 article\n" in published.stdout
    config = tmp_path / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("# min_articles = 1", "min_articles = 2")
    )
    (tmp_path / "content" / "broken.md").write_text(
        "---\ntitle: Second\ndate: 2026-01-01\n---\nBody\n", encoding="utf-8"
    )
    assert run(tmp_path, "gather").returncode == 0
    waiting = run(tmp_path, "digest", "create")
    assert waiting.stdout == (
        "daily: 1 new article, fewer than min_articles (2); no edition made\n"
    )


def test_a_reimport_that_changes_nothing_reports_the_rows_unchanged(site: Site) -> None:
    shutil.copy(Path(__file__).parent.parent / "subscribers.csv", site.root / "subscribers.csv")
    first = run(site.root, "subscribers", "import", "subscribers.csv")
    assert first.stdout == (
        "import: 5 added, 0 updated, 0 unchanged, 0 skipped (unsubscribed or bounced), 0 errors\n"
    )
    again = run(site.root, "subscribers", "import", "subscribers.csv")
    assert again.stdout == (
        "import: 0 added, 0 updated, 5 unchanged, 0 skipped (unsubscribed or bounced), 0 errors\n"
    )


def test_import_counts_only_real_changes_as_updates(store: Store, clock: MovableClock) -> None:
    digests = ["daily", "culture"]
    rows = "email,name,digests\na@example.org,Ann,daily\nb@example.org,Bo,daily culture\n"
    assert import_csv(store, rows, digests, clock.now).added == 2
    changed = (
        "email,name,digests\n"
        "A@example.org,,daily\n"  # no name given: the stored one stays
        "b@example.org,Bo,culture daily\n"  # the same digests in another order
    )
    same = import_csv(store, changed, digests, clock.now)
    assert (same.added, same.updated, same.unchanged) == (0, 0, 2)
    renamed = import_csv(store, "email,name,digests\nb@example.org,Bob,daily\n", digests, clock.now)
    assert (renamed.updated, renamed.unchanged) == (1, 0)
