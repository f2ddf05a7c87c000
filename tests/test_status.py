"""`publisher status`: one screen, from the store, of where a site stands; `--json` the same."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

import sqlalchemy as sa

from publisher.audience.subscribers import add_subscriber, remove_subscriber
from publisher.config import Config
from publisher.mail.delivery.send import start_delivery
from publisher.mail.editions import create_edition
from publisher.site.gather import gather
from publisher.status import (
    LEDGER_KINDS,
    last_edition,
    remaining_hints,
    site_status,
    status_document,
    status_lines,
    stored_jobs,
)
from publisher.store.database import Store, open_store
from publisher.store.gathers import MAX_RECORDED_ERRORS
from publisher.store.locks import StandbyMark, active_lock, daemon_is_active, daemon_is_waiting
from publisher.store.schema import deliveries
from tests.conftest import MovableClock, Site, run_publisher, start_publisher
from tests.test_scheduler import SECRET, Output, configure, wait_for


def run(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(site.root, *args)


def published_sample(site: Site) -> None:
    """The sample site after its subscribers were imported and `publish --digest` ran."""
    (site.root / "subscribers.csv").write_text(
        "email,name,digests\n"
        "ann@example.org,Ann,daily culture\n"
        "bea@example.org,Bea,daily\n"
        "cy@example.org,Cy,culture\n",
        encoding="utf-8",
    )
    assert run(site, "subscribers", "import", "subscribers.csv").returncode == 0
    published = run(site, "publish", "--digest")
    assert published.returncode == 0, published.stderr


def test_status_after_a_publish_tells_where_the_sample_site_stands(site: Site) -> None:
    published_sample(site)
    result = run(site, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "The Harbour Gazette (config.toml; store publisher.db)"
    assert lines[1] == "articles: 14 public, 1 scheduled, 1 draft skipped, 0 withdrawn"
    assert re.fullmatch(r"last gather: \d{4}-\d\d-\d\d \d\d:\d\d GMT, 0 errors", lines[2])
    assert lines[3] == "digests:"
    assert re.fullmatch(
        r"  daily: edition #1 \(id 1\), .* GMT, 14 articles; "
        r"deliveries: 2 sent, 0 failed, 0 retryable, 0 uncertain, 0 pending, 0 skipped",
        lines[4],
    )
    assert lines[5] == (
        "    subscribers: 0 pending, 2 confirmed, 0 unsubscribed, 0 bounced, "
        "0 complained, 0 forgotten"
    )
    assert re.fullmatch(
        r"  culture: edition #1 \(id 2\), .*, 5 articles; "
        r"deliveries: 2 sent, 0 failed, 0 retryable, 0 uncertain, 0 pending, 0 skipped",
        lines[6],
    )
    assert lines[8] == (
        "subscribers: 0 pending, 3 confirmed, 0 unsubscribed, 0 bounced, 0 complained, 0 forgotten"
    )
    assert lines[9] == (
        "daemon: not running; no jobs stored yet (publisher run has not started here)"
    )
    assert len(lines) == 10


def test_status_json_holds_the_same_for_monitoring(site: Site) -> None:
    published_sample(site)
    result = run(site, "status", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["articles"] == {"public": 14, "scheduled": 1, "draft": 1, "withdrawn": 0}
    assert document["last_gather"]["error_count"] == 0
    daily, culture = document["digests"]
    assert daily["name"] == "daily"
    assert daily["last_edition"]["number"] == 1
    assert daily["last_edition"]["articles"] == 14
    assert daily["last_edition"]["ledger"] == {
        "sent": 2,
        "failed": 0,
        "retryable": 0,
        "uncertain": 0,
        "pending": 0,
        "skipped": 0,
    }
    assert daily["last_edition"]["remaining"] == []
    assert daily["subscribers"]["confirmed"] == 2
    assert culture["last_edition"]["ledger"]["sent"] == 2
    assert document["subscribers"] == {
        "pending": 0,
        "confirmed": 3,
        "unsubscribed": 0,
        "bounced": 0,
        "complained": 0,
        "forgotten": 0,
    }
    assert document["daemon"] == {"active": False, "standby": False, "jobs": []}
    assert document["last_gather"]["at"].endswith("+00:00")


def test_status_before_anything_ran_says_so(site: Site) -> None:
    result = run(site, "status")
    assert result.returncode == 0, result.stderr
    assert "articles: 0 public, 0 scheduled, 0 drafts skipped, 0 withdrawn" in result.stdout
    assert "last gather: never" in result.stdout
    assert "  daily: no edition yet" in result.stdout


def test_last_gather_errors_are_shown_then_cleared(site: Site, clock: MovableClock) -> None:
    config = site.config()
    broken = site.write_article("news/broken.md", "---\ntitle: Broken\ndate: 2026-13-45\n---\n")
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        lines = status_lines(site_status(config, store), config.site.zone)
        assert "last gather: 2026-11-25 12:00 GMT, 1 error" in lines
        assert any(line.startswith(f"  {site.content}/news/broken.md:3: date:") for line in lines)
        broken.unlink()
        clock.advance(minutes=5)
        gather(store, config, clock)
        lines = status_lines(site_status(config, store), config.site.zone)
        assert "last gather: 2026-11-25 12:05 GMT, 0 errors" in lines


def test_many_gather_errors_are_counted_and_the_first_ones_kept(
    site: Site, clock: MovableClock
) -> None:
    config = site.config()
    for number in range(MAX_RECORDED_ERRORS + 3):
        site.write_article(f"bad/{number:02d}.md", "no front matter\n")
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        status = site_status(config, store)
    assert status.last_gather is not None
    assert status.last_gather.error_count == MAX_RECORDED_ERRORS + 3
    assert len(status.last_gather.errors) == MAX_RECORDED_ERRORS
    assert "  ... and 3 more" in status_lines(status, config.site.zone)


def _config_on(site: Site, store: Store) -> Config:
    return replace(site.config(), store_url=store.engine.url.render_as_string(False))


def test_ledger_counts_each_kind_and_any_other_status(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = _config_on(site, store)
    for address in ("a@example.org", "b@example.org", "c@example.org", "d@example.org"):
        add_subscriber(store, address, "", ("daily",), clock.now)
    add_subscriber(store, "e@example.org", "", ("daily",), clock.now)
    gather(store, config, clock)
    edition = create_edition(store, config, "daily", clock).edition
    assert edition is not None
    start_delivery(store, edition.id, clock.now)
    with store.transaction() as connection:
        rows = connection.execute(sa.select(deliveries.c.id).order_by(deliveries.c.id)).scalars()
        kinds = ["sent", "failed", "uncertain", "retryable", "skipped"]
        for row_id, status in zip(rows, kinds, strict=False):
            connection.execute(
                deliveries.update().where(deliveries.c.id == row_id).values(status=status)
            )
        found = last_edition(connection, "daily")
    assert found is not None
    assert tuple(found.ledger) == LEDGER_KINDS
    assert dict(found.ledger) == {
        "sent": 1,
        "failed": 1,
        "retryable": 1,
        "uncertain": 1,
        "pending": 0,
        "skipped": 1,
    }
    assert remaining_hints(found) == [
        f"1 failed temporarily: publisher send {edition.id} --retry-failed",
        f"1 uncertain (may have arrived): publisher send {edition.id} --retry-uncertain",
        "1 refused for good (bounced or invalid): not resent",
    ]


def test_subscribers_are_counted_per_status_and_per_digest(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = _config_on(site, store)
    add_subscriber(store, "a@example.org", "", ("daily", "culture"), clock.now)
    add_subscriber(store, "b@example.org", "", ("daily",), clock.now)
    remove_subscriber(store, "b@example.org", clock.now)
    document = status_document(site_status(config, store))
    assert document["subscribers"] == {
        "pending": 0,
        "confirmed": 1,
        "unsubscribed": 1,
        "bounced": 0,
        "complained": 0,
        "forgotten": 0,
    }
    daily, culture = document["digests"]
    assert (daily["subscribers"]["confirmed"], daily["subscribers"]["unsubscribed"]) == (1, 1)
    assert (culture["subscribers"]["confirmed"], culture["subscribers"]["unsubscribed"]) == (1, 0)


def test_an_active_daemon_is_seen_through_its_lock_without_taking_it(
    site: Site, store: Store
) -> None:
    config = _config_on(site, store)
    assert not daemon_is_active(config, store.engine)
    lock = active_lock(config, store.engine)
    assert lock.try_acquire()
    try:
        assert daemon_is_active(config, store.engine)
        assert daemon_is_active(config, store.engine)  # looking does not take it
    finally:
        lock.release()
    assert not daemon_is_active(config, store.engine)


def test_a_waiting_standby_is_seen_through_its_mark(site: Site, store: Store) -> None:
    config = _config_on(site, store)
    assert not daemon_is_waiting(config, store.engine)
    mark = StandbyMark(config, store.engine)
    mark.hold()
    try:
        assert daemon_is_waiting(config, store.engine)
        assert daemon_is_waiting(config, store.engine)  # looking does not take it
    finally:
        mark.release()
    assert not daemon_is_waiting(config, store.engine)


def test_status_shows_an_active_daemon_and_a_standby(site: Site) -> None:
    configure(site, publish_every="1h", standby_poll="0.1s")
    first = start_publisher(site, "run", **SECRET)
    first_output = Output(first)
    second: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: first_output.has("active: this process schedules"))
        second = start_publisher(site, "run", **SECRET)
        second_output = Output(second)
        wait_for(lambda: second_output.has("standby: another publisher run is active"))
        wait_for(lambda: json.loads(run(site, "status", "--json").stdout)["daemon"]["standby"])
        result = run(site, "status")
        assert "daemon: active on this store, a standby waiting; stored jobs:" in result.stdout
        first.terminate()
        assert first.wait(timeout=60) == 0
        wait_for(lambda: second_output.has("active: this process schedules"))
        document = json.loads(run(site, "status", "--json").stdout)
        assert (document["daemon"]["active"], document["daemon"]["standby"]) == (True, False)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=60)


def test_status_shows_a_running_daemon_and_its_next_runs(site: Site) -> None:
    configure(site, publish_every="1h", standby_poll="0.1s")
    process = start_publisher(site, "run", **SECRET)
    output = Output(process)
    try:
        wait_for(lambda: output.has("active: this process schedules"))
        wait_for(lambda: output.has("job publish: next run"))
        result = run(site, "status")
        assert result.returncode == 0, result.stderr
        assert "daemon: active on this store; stored jobs:" in result.stdout
        for job in ("publish", "digest:daily", "digest:culture"):
            assert re.search(rf"^  {job}: next run \d{{4}}-", result.stdout, flags=re.MULTILINE)
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
    after = run(site, "status", "--json")
    document = json.loads(after.stdout)
    assert document["daemon"]["active"] is False
    assert {job["id"] for job in document["daemon"]["jobs"]} == {
        "publish",
        "digest:daily",
        "digest:culture",
    }
    config = site.config()
    with open_store(config.store_url) as store, store.transaction() as connection:
        assert all(job.next_run is not None for job in stored_jobs(connection))


def test_status_names_the_last_gathers_errors_as_typed_from_here(site: Site) -> None:
    site.write_article("news/broken.md", "---\ntitle: Broken\ndate: 2026-13-45\n---\n")
    assert run(site, "gather").returncode == 1
    result = run(site, "status")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^last gather: .*, 1 error$", result.stdout, flags=re.MULTILINE)
    assert "\n  content/news/broken.md:3: date: " in result.stdout
    document = json.loads(run(site, "status", "--json").stdout)
    (error,) = document["last_gather"]["errors"]
    assert error.startswith("content/news/broken.md:3: date: ")
