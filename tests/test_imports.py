"""`subscribers import` at any size: the rules, batches checked in other processes, runs that
were killed, and export and list streamed in flat memory. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import io
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO

import pytest
import sqlalchemy as sa

from publisher.audience import imports
from publisher.audience.forgetting import address_hash, import_suppression
from publisher.audience.imports import (
    Change,
    CheckedRow,
    import_action,
    import_csv,
)
from publisher.audience.subscribers import add_subscriber, check_address, request_subscription
from publisher.cli import main as cli
from publisher.store import subscribers as store_subscribers
from publisher.store.database import Store, open_store
from publisher.store.schema import subscriber_imports, subscribers, subscriptions
from publisher.store.statuses import SubscriberStatus
from publisher.store.subscriber_imports import (
    ANALYZE_AFTER_ROWS,
    NewSubscriber,
    StoredSubscriber,
    insert_subscribers,
    unfinished_import_runs,
)
from tests.conftest import SAMPLE_NOW, Site, publisher_environment, run_publisher
from tests.test_store_subscribers import counted_by_group_by, kept_counts

DIGESTS = ("daily", "culture")
Row = tuple[str, str, str, tuple[str, ...]]  # email, name, status, digests


def stored_rows(store: Store) -> set[Row]:
    """Every subscriber as (email, name, status, digests)."""
    with store.transaction() as connection:
        found = connection.execute(
            sa.select(
                subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.status
            )
        ).all()
        digests: dict[int, list[str]] = {}
        for subscriber_id, digest in connection.execute(
            sa.select(subscriptions.c.subscriber_id, subscriptions.c.digest)
        ):
            digests.setdefault(subscriber_id, []).append(digest)
    return {
        (email, name, status, tuple(sorted(digests.get(key, []))))
        for key, email, name, status in found
    }


def people_csv(count: int) -> str:
    """A CSV of `count` rows: every 97th address bad, every 89th a repeat of an earlier one."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "digests"])
    for number in range(count):
        email = f"Reader.{number}@Example{number % 7}.org"
        if number % 97 == 96:
            email = f"reader {number} at example.org"
        elif number % 89 == 88:
            email = f"READER.{number // 2}@example{(number // 2) % 7}.ORG"
        writer.writerow(
            [email, f"Reader {number}", ["daily", "culture", "daily;culture", ""][number % 4]]
        )
    return out.getvalue()


# The rules ----------------------------------------------------------------------------------


def test_an_import_never_confirms_a_pending_address_nor_brings_back_anyone_who_left(
    store: Store,
) -> None:
    now = SAMPLE_NOW
    request_subscription(store, "waiting@example.org", "W", ["daily"], now, timedelta(0))
    for email, status in (
        ("left@example.org", SubscriberStatus.UNSUBSCRIBED),
        ("bounced@example.org", SubscriberStatus.BOUNCED),
        ("complained@example.org", SubscriberStatus.COMPLAINED),
    ):
        subscriber, _ = add_subscriber(store, email, "", ["daily"], now)
        with store.transaction() as connection:
            connection.execute(
                subscribers.update().where(subscribers.c.id == subscriber.id).values(status=status)
            )
    text = "email,name,digests,status\n" + "".join(
        f"{local}@example.org,New name,daily culture,{status}\n"
        for local, status in (
            ("waiting", "confirmed"),
            ("left", ""),
            ("bounced", "confirmed"),
            ("complained", ""),
            ("fresh", ""),
            ("asked", "pending"),
        )
    )
    report = import_csv(store, text, DIGESTS, now)
    assert (report.added, report.skipped, report.pending, report.errors) == (2, 3, 1, [])
    statuses = {email: status for email, _, status, _ in stored_rows(store)}
    assert statuses == {
        "waiting@example.org": "pending",
        "left@example.org": "unsubscribed",
        "bounced@example.org": "bounced",
        "complained@example.org": "complained",
        "fresh@example.org": "confirmed",
        "asked@example.org": "pending",  # a pending row in an export stays pending
    }
    assert "import: 2 added" in report.summary()
    assert "3 skipped (unsubscribed or bounced), 1 left pending (unconfirmed)" in report.summary()


STATUSES = ("", *tuple(SubscriberStatus))


@pytest.mark.parametrize("stored", [None, *tuple(SubscriberStatus)])
@pytest.mark.parametrize("wanted", [s for s in STATUSES if s != SubscriberStatus.FORGOTTEN])
def test_every_rule_applied_a_second_time_changes_nothing(stored: str | None, wanted: str) -> None:
    row = CheckedRow(2, "a@example.org", "a@example.org", "Ann", ("daily",), wanted)
    before = None if stored is None else StoredSubscriber(1, stored, "Old", frozenset({"culture"}))
    action = import_action(row, before)
    after = before
    if action.change == Change.ADD:
        after = StoredSubscriber(1, action.status, row.name, frozenset(row.digests))
    elif action.change == Change.UPDATE and before is not None:
        after = dataclasses.replace(
            before, name=row.name or before.name, digests=frozenset(row.digests)
        )
    elif action.change == Change.SUPPRESS and before is not None:
        after = dataclasses.replace(before, status=action.status)
    assert import_action(row, after).change == Change.NOTHING
    if before is not None and before.status == SubscriberStatus.PENDING:
        assert after is not None
        assert after.status != SubscriberStatus.CONFIRMED
    if stored in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, "complained"):
        assert after == before


def test_importing_a_file_again_changes_nothing(store: Store) -> None:
    text = people_csv(300)
    first = import_csv(store, text, DIGESTS, SAMPLE_NOW)
    with store.transaction() as connection:
        before = connection.execute(sa.select(subscribers).order_by(subscribers.c.id)).all()
    again = import_csv(store, text, DIGESTS, SAMPLE_NOW + timedelta(days=1))
    with store.transaction() as connection:
        after = connection.execute(sa.select(subscribers).order_by(subscribers.c.id)).all()
    assert after == before
    assert (again.added, again.updated, again.unchanged) == (0, 0, first.added)
    assert again.errors == first.errors


def test_batches_checked_in_worker_processes_import_as_checked_here(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "BATCH_ROWS", 40)
    monkeypatch.setattr(imports, "PARALLEL_AFTER_BATCHES", 1)
    text = people_csv(400)  # ten batches, nine of them checked by the workers
    here = import_csv(store, text, DIGESTS, SAMPLE_NOW, workers=0)
    with open_store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        there = import_csv(other, text, DIGESTS, SAMPLE_NOW, workers=2)
        assert stored_rows(other) == stored_rows(store)
    assert there == here
    assert len(here.errors) == 4 + 2  # four bad addresses, two repeats
    assert here.added == 400 - 6
    assert here.errors[1] == "line 98: bad address 'reader 96 at example.org': " + (
        "An email address must have an @-sign."
    )
    assert "line 90: READER.44@example2.org appears twice; first kept" in here.errors


def test_the_kept_counts_and_name_index_match_the_rows_after_an_import(store: Store) -> None:
    import_csv(store, people_csv(500), DIGESTS, SAMPLE_NOW)
    # A bounce, a change of digests and a rename (counted by the triggers, as before), and a
    # new address that left elsewhere.
    changes = "email,name,digests,status\nreader.1@example1.org,,,bounced\n"
    changes += "reader.2@example2.org,Renamed Person,daily;culture,\n"
    changes += "gone@example.org,Gone Away,daily,unsubscribed\n"
    import_csv(store, changes, DIGESTS, SAMPLE_NOW)
    assert kept_counts(store) == counted_by_group_by(store)
    assert kept_counts(store)[""]["bounced"] == 1
    with store.transaction() as connection:
        found = store_subscribers.subscribers_by_name_words(connection, "reader 41", limit=500)
        renamed = store_subscribers.subscribers_by_name_words(connection, "renamed person")
        gone = store_subscribers.subscribers_by_name_words(connection, "away")
    assert {row.name for row in found} == {"Reader 41"} | {f"Reader {n}" for n in range(410, 420)}
    assert [row.email.lower() for row in renamed] == ["reader.2@example2.org"]
    assert [row.status for row in gone] == ["unsubscribed"]


def test_a_batch_with_an_address_stored_since_it_was_read_leaves_that_address_alone(
    store: Store,
) -> None:
    # As a sign-up between the batch's look-up and its insert would: on PostgreSQL the plain
    # INSERT fails on the key and the batch is inserted again with ON CONFLICT DO NOTHING.
    signed_up, _ = add_subscriber(store, "early@example.org", "Early", ["culture"], SAMPLE_NOW)
    batch = [
        NewSubscriber(f"{who}@example.org", f"{who}@example.org", who, "confirmed", "n", ("daily",))
        for who in ("first", "early", "last")
    ]
    with store.transaction() as connection:
        ids = insert_subscribers(connection, batch, SAMPLE_NOW)
    assert sorted(ids) == ["first@example.org", "last@example.org"]
    assert signed_up.id not in ids.values()
    assert stored_rows(store) == {
        ("early@example.org", "Early", "confirmed", ("culture",)),
        ("first@example.org", "first", "confirmed", ("daily",)),
        ("last@example.org", "last", "confirmed", ("daily",)),
    }
    assert kept_counts(store) == counted_by_group_by(store)


def _store_with_some_already(store: Store) -> Store:
    """`store` with a pending, an unsubscribed and a confirmed subscriber the file also has."""
    request_subscription(store, "reader.5@example5.org", "", ["daily"], SAMPLE_NOW, timedelta(0))
    add_subscriber(store, "reader.6@example6.org", "Old", ["culture"], SAMPLE_NOW)
    left, _ = add_subscriber(store, "reader.7@example0.org", "", ["daily"], SAMPLE_NOW)
    with store.transaction() as connection:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == left.id)
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    return store


def test_batches_written_two_at_once_end_as_one_at_a_time(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL writes two batches at once; SQLite, one at a time, gives the expected end."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 40)
    secret = b"a secret of this test"
    later = "Reader.150@example3.org"  # forgotten in one batch, imported in the next
    gone = address_hash(secret, check_address(later))
    lines = [f"{line},," for line in people_csv(400).splitlines()[1:]]
    lines.insert(100, f"someone@example.org,,,forgotten,{gone}")
    text = "email,name,digests,status,address_hash\n" + "\n".join(lines) + "\n"

    def imported(into: Store, at_once: dict[str, int]) -> imports.ImportReport:
        monkeypatch.setattr(imports, "BATCHES_WRITTEN_AT_ONCE", at_once)
        suppression = import_suppression(secret, SAMPLE_NOW)
        return import_csv(into, text, DIGESTS, SAMPLE_NOW, suppression, workers=0)

    with open_store(postgres_url) as store:
        two = imported(_store_with_some_already(store), {"postgresql": 2})
        with open_store(f"sqlite:///{tmp_path / 'one.db'}") as other:
            one = imported(_store_with_some_already(other), {})
            assert stored_rows(store) == stored_rows(other)
        assert two == one
        assert (one.pending, one.skipped, one.updated, one.suppressed) == (1, 1, 1, 1)
        assert f"line 153: {later} was forgotten on request" in " ".join(one.errors)
        assert kept_counts(store) == counted_by_group_by(store)
        with store.transaction() as connection:
            [run] = connection.execute(sa.select(subscriber_imports.c.rows_done)).scalars()
        assert run == 401


# Killed, and run again ------------------------------------------------------------------------


def publisher_on(site: Site, store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(site.root, *args, PUBLISHER_STORE_URL=store_url)


def planner_statistics(store: Store) -> dict[str, int]:
    """How many columns of `subscribers` and `subscriptions` PostgreSQL has statistics for,
    by table (none: not there)."""
    with store.transaction() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT tablename, count(*) FROM pg_stats WHERE schemaname = current_schema() "
                "AND tablename IN ('subscribers', 'subscriptions') GROUP BY tablename"
            )
        ).all()
    return {table: number for table, number in rows}


def test_a_large_import_on_postgresql_leaves_the_planner_statistics_of_what_it_wrote(
    postgres_url: str,
) -> None:
    with open_store(postgres_url) as store:
        with store.transaction() as connection:  # so only the import can have analyzed them
            for table in ("subscribers", "subscriptions"):
                connection.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
        import_csv(store, people_csv(500), DIGESTS, SAMPLE_NOW)
        assert planner_statistics(store) == {}  # a small import leaves them to autovacuum
        large = people_csv(ANALYZE_AFTER_ROWS + 500).replace("Reader.", "Other.")
        report = import_csv(store, large, DIGESTS, SAMPLE_NOW)
        assert report.added >= ANALYZE_AFTER_ROWS
        assert planner_statistics(store).keys() == {"subscribers", "subscriptions"}


def test_an_import_killed_midway_then_run_again_ends_as_one_clean_import(
    site: Site, store_url: str, tmp_path: Path
) -> None:
    text = people_csv(3 * imports.BATCH_ROWS)
    lines = text.splitlines(keepends=True)
    fifo = site.root / "people.csv"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher", "subscribers", "import", "people.csv"],
        cwd=site.root,
        env=publisher_environment(PUBLISHER_STORE_URL=store_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Two batches and a half: the import writes two and waits for the rest of the third.
    written = 1 + 2 * imports.BATCH_ROWS + imports.BATCH_ROWS // 2
    with open_for_writing_once_read(fifo, process) as pipe:
        pipe.writelines(lines[:written])
        pipe.flush()
        with open_store(store_url) as store:
            runs = wait_for(lambda: _runs_with(store, 2 * imports.BATCH_ROWS), process)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)
            halfway = stored_rows(store)
            assert kept_counts(store) == counted_by_group_by(store)
    [stopped] = runs
    assert stopped.rows_done == 2 * imports.BATCH_ROWS
    assert len(halfway) < 2 * imports.BATCH_ROWS  # whole batches only, less the bad rows
    status = publisher_on(site, store_url, "status")
    assert "people.csv" in status.stdout
    assert "has not finished (10000 rows imported)" in status.stdout
    fifo.unlink()
    fifo.write_text(text, encoding="utf-8")
    again = publisher_on(site, store_url, "subscribers", "import", "people.csv")
    assert again.returncode == 1  # the bad rows, named
    assert "an earlier import of people.csv stopped after 10000 rows" in again.stdout
    assert "people.csv:98: bad address" in again.stderr
    with open_store(f"sqlite:///{tmp_path / 'clean.db'}") as clean:
        clean_report = import_csv(clean, text, DIGESTS, SAMPLE_NOW)
        expected = stored_rows(clean)
    with open_store(store_url) as store:
        assert stored_rows(store) == expected
        assert halfway < expected
        assert kept_counts(store) == counted_by_group_by(store)
        with store.transaction() as connection:
            assert unfinished_import_runs(connection) == []
    assert f"{len(clean_report.errors)} errors" in again.stdout


def _runs_with(store: Store, rows: int) -> list[object] | None:
    with store.transaction() as connection:
        runs = unfinished_import_runs(connection)
    return runs if runs and runs[0].rows_done >= rows else None


@contextlib.contextmanager
def open_for_writing_once_read(fifo: Path, process: subprocess.Popen[bytes]) -> Iterator[IO[str]]:
    """The FIFO's writing end, opened once `process` opens it to read: a process that ends
    first fails the test with its stderr instead of leaving `open` blocked for ever."""
    deadline = time.monotonic() + 300
    while True:
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as error:  # ENXIO: nobody reads it yet
            if error.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
        if process.poll() is not None:
            raise AssertionError(f"the import ended at once: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.05)
    os.set_blocking(descriptor, True)
    with open(descriptor, "w", encoding="utf-8") as pipe:
        yield pipe


def wait_for(found: object, process: subprocess.Popen[bytes], seconds: float = 300) -> list:
    """Poll `found()` until it gives something, while `process` runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = found()  # type: ignore[operator]
        if result:
            return result  # type: ignore[no-any-return]
        assert process.poll() is None, "the import ended before it was killed"
        time.sleep(0.05)
    raise AssertionError("the import never wrote its first two batches")


def test_a_row_that_is_not_utf8_is_named_with_its_line_and_the_rest_imported(site: Site) -> None:
    people = site.root / "people.csv"
    people.write_bytes(
        b"email,name,digests\nok@example.org,Ok,daily\nbad@example.org,Caf\xe9,daily\n"
        b"also@example.org,Also,daily\n"
    )
    result = run_publisher(site.root, "subscribers", "import", "people.csv")
    assert result.returncode == 1
    assert result.stderr == "people.csv:3: not UTF-8 text\n"
    assert "import: 2 added" in result.stdout


# Export and list in flat memory ---------------------------------------------------------------


class CountingSink(io.TextIOBase):
    """Standard output that keeps only how much was written."""

    def __init__(self) -> None:
        self.size = 0
        self.lines = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        self.lines += text.count("\n")
        return len(text)

    def isatty(self) -> bool:
        return False


def add_people(store: Store, first: int, count: int) -> None:
    for start in range(first, first + count, 5_000):
        with store.transaction() as connection:
            insert_subscribers(
                connection,
                [
                    NewSubscriber(
                        f"p{n}@example.org",
                        f"p{n}@example.org",
                        f"Person {n}",
                        "confirmed",
                        "nonce",
                        ("daily",),
                    )
                    for n in range(start, min(start + 5_000, first + count))
                ],
                SAMPLE_NOW,
            )


def peak_of_command(site: Site, *args: str) -> tuple[int, int]:
    """The tracemalloc peak of `publisher ARGS` run in this process, and its output's lines."""
    sink = CountingSink()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(sink):  # type: ignore[type-var]
            cli.main(["--config", str(site.config_path), *args], standalone_mode=False)
        return tracemalloc.get_traced_memory()[1], sink.lines
    finally:
        tracemalloc.stop()


STREAMING_COMMANDS = [
    ("subscribers", "export"),
    ("subscribers", "export", "--format", "json"),
    ("subscribers", "list"),
]


def test_export_and_list_stream_in_flat_memory(
    site: Site, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 22's 5,000 rows against 50,000 at the cursor's 5,000 a batch, scaled by five: with
    # 1,000 rows a batch, 1,000 rows are one batch and 10,000 are ten; held whole, they would
    # take ten times the memory. One list for the three commands: making rows costs the most.
    monkeypatch.setattr(store_subscribers, "STREAM_BATCH", 1_000)
    monkeypatch.setenv("PUBLISHER_STORE_URL", store_url)
    monkeypatch.setenv("PUBLISHER_SECRET", "a-test-secret-of-enough-length")
    small = {}
    with open_store(store_url) as store:
        add_people(store, 0, 1_000)
        for command in STREAMING_COMMANDS:
            peak_of_command(site, *command)  # once first: imports, caches, statements compiled
            small[command] = peak_of_command(site, *command)
        add_people(store, 1_000, 9_000)
    for command in STREAMING_COMMANDS:
        large, large_lines = peak_of_command(site, *command)
        peak, lines = small[command]
        assert large_lines - lines == 9_000, command
        assert large < peak * 1.5, (
            f"{command}: {peak / 1e6:.1f} MB for 1,000, {large / 1e6:.1f} MB for 10,000"
        )
