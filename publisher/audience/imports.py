"""Importing subscribers from CSV, at any size, a batch at a time.

Rows are read on a thread and checked (address, name, digests) in worker processes once a
file runs past a few batches; each batch is then decided row by row by `import_action`, the
import's rules in one place, and written in one transaction with one statement per kind of
change (`store.subscriber_imports`).

A run is recorded in the store. Killed, it leaves whole batches imported and its run open,
which `publisher status` shows; running the same import again finishes it, since every rule
gives the same result applied twice: the rows of the first run's batches are found as they
were left and changed no further, so the store ends exactly as after one clean run.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import functools
import io
import multiprocessing
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, TextIO

from sqlalchemy.engine import Connection

from publisher.audience.subscribers import (
    CSV_HEADER,
    Address,
    SubscriberError,
    check_address,
    check_digests,
    check_name,
)
from publisher.audience.tokens import new_nonce, new_nonces
from publisher.store.database import Store
from publisher.store.statuses import SubscriberStatus
from publisher.store.subscriber_imports import (
    ANALYZE_AFTER_ROWS,
    EncodedSubscriber,
    NewSubscriber,
    StoredSubscriber,
    analyze_imported_tables,
    encoded_subscriber,
    finish_import_run,
    insert_encoded_subscribers,
    prepare_for_import,
    record_import_progress,
    rename_subscribers,
    replace_digests,
    start_import_run,
    stored_subscribers,
    suppress_subscribers,
    unfinished_import_runs,
)
from publisher.store.subscribers import fold_subscriber_counts
from publisher.wording import count

BATCH_ROWS = 5_000  # rows written in one transaction
BATCHES_AHEAD = 4  # batches read and checked ahead of the one being written
# Batches written at once, each on its own connection, by database. On PostgreSQL one
# batch is decided and encoded while the server writes the one before: the two would
# otherwise take turns. SQLite has one writer at a time.
BATCHES_WRITTEN_AT_ONCE = {"postgresql": 2}
PARALLEL_AFTER_BATCHES = 2  # a longer file is checked in worker processes
UNNAMED_SOURCE = "-"

# A status column of any other known status is kept as it is, so a suppression list
# (unsubscribed, bounced, ...) survives a move between stores.
MAILABLE_STATUSES = ("", SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING)
# Whoever has one of these left, or was made to: an import never mails them again.
LEFT_STATUSES = (
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.COMPLAINED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.FORGOTTEN,
)
_ADDRESS_HASH = re.compile("[0-9a-f]{64}")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what undecodable bytes become (surrogateescape)


@dataclass(frozen=True, slots=True)
class Suppression:
    """How an import consults and extends the forgotten addresses (see `forgetting`), a batch
    at a time, inside the batch's transaction."""

    # The addresses refused, by key, each with the reason.
    refusals: Callable[[Connection, Sequence[Address]], dict[str, str]]
    remember: Callable[[Connection, Sequence[str]], None]  # hashes from a `forgotten` row


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    suppressed: int = 0
    unchanged: int = 0
    pending: int = 0
    # An earlier run of the same file that never finished: how many rows it had written.
    resumed_after: int | None = None

    def summary(self) -> str:
        """One line: what the import did."""
        kept = f", {self.suppressed} kept suppressed" if self.suppressed else ""
        pending = f", {self.pending} left pending (unconfirmed)" if self.pending else ""
        return (
            f"import: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped (unsubscribed or bounced){kept}{pending}, "
            f"{count(len(self.errors), 'error')}"
        )


# Checking rows: pure, so it runs in worker processes ---------------------------------------


class CheckedRow(NamedTuple):
    """A row whose address, name and digests are valid."""

    line: int
    email: str
    key: str
    name: str
    digests: tuple[str, ...]
    status: str  # as the file has it: "" or a status, checked when the row is decided
    # The row as a new subscriber, encoded for the store (`encoded_subscriber`): made where
    # the row is checked, so the process that writes does not (most rows of a first import).
    item: str = ""


class ForgottenRow(NamedTuple):
    """A `forgotten` row: the keyed hash of an address forgotten in another store."""

    line: int
    address_hash: str


class RowProblem(NamedTuple):
    line: int
    message: str


Checked = CheckedRow | ForgottenRow | RowProblem


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A batch of rows, each checked, kept as plain tuples: cheap to pass between processes
    (see `CheckedRow`, `ForgottenRow`, `RowProblem` for their fields)."""

    rows: list[tuple[int, str, str, str, tuple[str, ...], str, str]]
    forgotten: list[tuple[int, str]]
    problems: list[tuple[int, str]]

    @property
    def read(self) -> int:
        """The rows read, blank lines aside."""
        return len(self.rows) + len(self.forgotten) + len(self.problems)


def check_lines(
    first_line: int,
    lines: list[str],
    columns: tuple[int | None, ...],
    known_digests: tuple[str, ...],
) -> CheckedBatch:
    """Read a batch of the file's lines as CSV and check each row on its own: values in,
    values out (no store), so any process can. `columns` says where each field is."""
    digests_in = functools.lru_cache(maxsize=1024)(
        lambda text: check_digests(text.replace(";", " ").split(), known_digests)
    )
    batch = CheckedBatch([], [], [])
    reader = csv.reader(lines)
    nonces = iter(new_nonces(len(lines)))  # a row is one line or more
    try:
        for fields in reader:
            if not fields:
                continue  # a blank line
            values = [fields[at] if at is not None and at < len(fields) else "" for at in columns]
            checked = _checked(first_line + reader.line_num - 1, values, digests_in)
            if isinstance(checked, CheckedRow):
                batch.rows.append(_with_item(checked, next(nonces)))
            elif isinstance(checked, ForgottenRow):
                batch.forgotten.append(tuple(checked))  # type: ignore[arg-type]
            else:
                batch.problems.append(tuple(checked))  # type: ignore[arg-type]
    except csv.Error as error:
        line = first_line + reader.line_num - 1
        raise SubscriberError(f"line {line}: cannot read the CSV: {error}") from None
    return batch


def _checked(line: int, values: list[str], digests_in: Callable[[str], tuple[str, ...]]) -> Checked:
    email, name, digests, status, address_hash = values
    if _NOT_UTF8.search("".join(values)):
        return RowProblem(line, "not UTF-8 text")
    status = status.strip()
    if status == SubscriberStatus.FORGOTTEN:
        address_hash = address_hash.strip()
        if not _ADDRESS_HASH.fullmatch(address_hash):
            return RowProblem(line, "a forgotten row needs its address_hash (64 hex)")
        return ForgottenRow(line, address_hash)
    try:
        address = check_address(email)
        checked_name = check_name(name)
        chosen = digests_in(digests)
    except SubscriberError as error:
        return RowProblem(line, str(error))
    return CheckedRow(line, address.email, address.key, checked_name, chosen, status)


def _with_item(row: CheckedRow, nonce: str) -> tuple[int, str, str, str, tuple[str, ...], str, str]:
    new = NewSubscriber(row.email, row.key, row.name, status_if_added(row.status), nonce, ())
    return (*row[:-1], encoded_subscriber(new))


# The rules ----------------------------------------------------------------------------------


class Change(StrEnum):
    """What an import writes for one row."""

    ADD = "add"  # a new subscriber, with `ImportAction.status`
    UPDATE = "update"  # the name (when one is given) and the digests
    SUPPRESS = "suppress"  # the status becomes `ImportAction.status`
    NOTHING = "nothing"


class Counted(StrEnum):
    """The report's count a row adds to."""

    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    SUPPRESSED = "suppressed"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class ImportAction:
    change: Change
    counted: Counted
    status: str = ""


def status_if_added(wanted: str) -> str:
    """The status a row whose address is not stored is added with: the file's, when it says
    the address left (unsubscribed, bounced, complained); pending if it says so; else
    confirmed."""
    if wanted not in MAILABLE_STATUSES:
        return wanted
    pending = wanted == SubscriberStatus.PENDING
    return SubscriberStatus.PENDING if pending else SubscriberStatus.CONFIRMED


def import_action(row: CheckedRow, existing: StoredSubscriber | None) -> ImportAction:
    """What importing `row` does to the stored subscriber with its address (None: none is).

    An import is not a reader's consent: it never mails again anyone who unsubscribed,
    complained, bounced or was forgotten, and never confirms a pending address. A status of
    unsubscribed, bounced or complained in the file (an export from another store) is kept.
    Every action, applied a second time, changes nothing: an import run twice ends as once.
    """
    if row.status not in MAILABLE_STATUSES:
        if existing is None:
            return ImportAction(Change.ADD, Counted.SUPPRESSED, status_if_added(row.status))
        if existing.status in (SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING):
            return ImportAction(Change.SUPPRESS, Counted.SUPPRESSED, row.status)
        return ImportAction(Change.NOTHING, Counted.SUPPRESSED)
    if existing is None:
        return ImportAction(Change.ADD, Counted.ADDED, status_if_added(row.status))
    if existing.status in LEFT_STATUSES:
        return ImportAction(Change.NOTHING, Counted.SKIPPED)
    if existing.status == SubscriberStatus.PENDING:
        return ImportAction(Change.NOTHING, Counted.PENDING)
    if (row.name or existing.name) == existing.name and set(row.digests) == existing.digests:
        return ImportAction(Change.NOTHING, Counted.UNCHANGED)
    return ImportAction(Change.UPDATE, Counted.UPDATED)


# The import -----------------------------------------------------------------------------------


def import_csv(
    store: Store,
    source: str | TextIO,
    known_digests: Sequence[str],
    now: datetime,
    suppression: Suppression | None = None,
    *,
    source_name: str = UNNAMED_SOURCE,
    workers: int = 1,
) -> ImportReport:
    """Import `email,name,digests` rows; bad rows are reported by line and the rest imported.

    Digests in a row are separated by spaces or semicolons; none means every digest. A
    `status` column (as `export_csv` writes) of unsubscribed, bounced or complained is kept; a
    `forgotten` row's `address_hash` joins the forgotten addresses; an address `suppression`
    refuses is reported with the reason. `source` is the text or an open file, read as it
    goes; `source_name` (the file's path) ties a run to an earlier one of the same file that
    stopped. Files longer than a few batches are checked in `workers` processes (0: none).
    """
    text = io.StringIO(source) if isinstance(source, str) else source
    header = csv.reader(text)  # reads the header's lines only: the rest go to `_line_batches`
    columns = _columns(next(header, None))
    report = ImportReport()
    with store.transaction() as connection:
        prepare_for_import(connection)
        if source_name != UNNAMED_SOURCE:
            stopped = unfinished_import_runs(connection, source_name)
            report.resumed_after = stopped[-1].rows_done if stopped else None
        run = start_import_run(connection, source_name, now)
    batches = _BatchWriter(store, run, now, suppression)
    first_line = header.line_num + 1
    checked = _checked_batches(text, first_line, columns, tuple(known_digests), workers)
    at_once = BATCHES_WRITTEN_AT_ONCE.get(store.engine.dialect.name, 1)
    for outcome in _written_in_order(batches, checked, at_once):
        outcome.add_to(report)
    with store.transaction() as connection:
        finish_import_run(connection, run, source_name, now)
        fold_subscriber_counts(connection)
    if report.added + report.updated + report.suppressed >= ANALYZE_AFTER_ROWS:
        with store.transaction() as connection:
            analyze_imported_tables(connection)
    return report


def _columns(header: list[str] | None) -> tuple[int | None, ...]:
    """Where each field an import reads sits in a row (None: the file has no such column)."""
    if header is None or "email" not in header:
        raise SubscriberError(
            "the CSV needs a header line with at least `email` (email,name,digests)"
        )
    wanted = (*CSV_HEADER, "status", "address_hash")
    return tuple(header.index(name) if name in header else None for name in wanted)


@dataclass(frozen=True, slots=True)
class _AdmittedBatch:
    """A batch's rows after the file's earlier rows were seen: repeats are problems."""

    candidates: list[CheckedRow]
    forgotten: list[ForgottenRow]
    problems: list[RowProblem]
    rows_done: int  # the file's rows read up to the end of this batch
    # Starts once the batch before is committed: either has forgotten rows, which the other
    # must see (a hash remembered refuses its address in a later batch).
    waits_for_previous: bool


@dataclass(slots=True)
class _BatchOutcome:
    """What writing one batch adds to the import's report."""

    counted: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)

    def add_to(self, report: ImportReport) -> None:
        """Add this batch's counts and errors to `report` (batches in file order)."""
        for name, number in self.counted.items():
            setattr(report, name, getattr(report, name) + number)
        report.errors.extend(self.errors)


class _BatchWriter:
    """Decides and writes each batch of checked rows in one transaction. `admit` takes the
    batches in file order; `write` may run for two batches at once on their own connections
    (their addresses never overlap), each committing only after the one before."""

    def __init__(
        self, store: Store, run: int, now: datetime, suppression: Suppression | None
    ) -> None:
        self.store, self.run, self.now = store, run, now
        self.suppression = suppression
        self.seen: set[str] = set()  # the keys of the file's rows so far: the first is kept
        self.rows_done = 0
        self.forgotten_before = False  # the batch admitted last had forgotten rows

    def admit(self, batch: CheckedBatch) -> _AdmittedBatch:
        """The batch's rows whose address the file has not had before, in file order."""
        problems = [RowProblem._make(problem) for problem in batch.problems]
        candidates = []
        for row in map(CheckedRow._make, batch.rows):
            if row.key in self.seen:
                problems.append(RowProblem(row.line, f"{row.email} appears twice; first kept"))
                continue
            self.seen.add(row.key)
            candidates.append(row)
        self.rows_done += batch.read
        forgotten = [ForgottenRow._make(row) for row in batch.forgotten]
        waits = self.forgotten_before or bool(forgotten)
        self.forgotten_before = bool(forgotten)
        return _AdmittedBatch(candidates, forgotten, problems, self.rows_done, waits)

    def write(self, batch: _AdmittedBatch, committed_before: Callable[[], object]) -> _BatchOutcome:
        """Write `batch` in one transaction; `committed_before` returns once the batch before
        is committed (raising its error if it failed), so the progress recorded never counts
        a batch that is not there."""
        outcome = _BatchOutcome()
        problems = list(batch.problems)
        forgotten = batch.forgotten
        if batch.waits_for_previous:
            committed_before()
        with self.store.transaction() as connection:
            if forgotten and self.suppression is None:
                problems.extend(
                    RowProblem(row.line, "a forgotten row needs its address_hash (64 hex)")
                    for row in forgotten
                )
            elif forgotten and self.suppression is not None:
                self.suppression.remember(connection, [row.address_hash for row in forgotten])
                outcome.counted[Counted.SUPPRESSED] += len(forgotten)
            accepted = self._accepted(connection, batch.candidates, problems)
            self._apply(connection, accepted, outcome)
            committed_before()
            record_import_progress(connection, self.run, batch.rows_done)
        outcome.errors.extend(f"line {row.line}: {row.message}" for row in sorted(problems))
        return outcome

    def _accepted(
        self, connection: Connection, rows: list[CheckedRow], problems: list[RowProblem]
    ) -> list[CheckedRow]:
        """The rows neither refused (forgotten addresses) nor of an unknown status."""
        refused: dict[str, str] = {}
        if self.suppression is not None and rows:
            addresses = [Address(row.email, row.key) for row in rows]
            refused = self.suppression.refusals(connection, addresses)
        accepted = []
        for row in rows:
            if row.key in refused:
                problems.append(RowProblem(row.line, f"{row.email} {refused[row.key]}"))
            elif row.status not in MAILABLE_STATUSES and row.status not in tuple(SubscriberStatus):
                problems.append(RowProblem(row.line, f"unknown status {row.status!r}"))
            else:
                accepted.append(row)
        return accepted

    def _apply(
        self, connection: Connection, rows: list[CheckedRow], outcome: _BatchOutcome
    ) -> None:
        """Decide each row against what is stored and write the batch's changes."""
        while rows:
            existing = stored_subscribers(connection, [row.key for row in rows])
            actions = _decided(rows, existing)
            added = [
                EncodedSubscriber(row.key, action.status, row.digests, row.item or _encoded(row))
                for row, action in actions
                if action.change == Change.ADD
            ]
            ids = insert_encoded_subscribers(connection, added, self.now)
            self._write_changes(connection, actions, existing)
            counted = collections.Counter(
                action.counted
                for row, action in actions
                if action.change != Change.ADD or row.key in ids
            )
            outcome.counted.update(counted)
            # Added meanwhile by someone else (a sign-up): decided again, as stored now.
            rows = [
                row for row, action in actions if action.change == Change.ADD and row.key not in ids
            ]

    def _write_changes(
        self,
        connection: Connection,
        actions: list[tuple[CheckedRow, ImportAction]],
        existing: dict[str, StoredSubscriber],
    ) -> None:
        names: dict[int, str] = {}
        digests: dict[int, tuple[str, ...]] = {}
        suppressed: dict[int, str] = {}
        for row, action in actions:
            stored = existing.get(row.key)
            if stored is None:
                continue
            if action.change == Change.UPDATE:
                if row.name and row.name != stored.name:
                    names[stored.id] = row.name
                if set(row.digests) != stored.digests:
                    digests[stored.id] = row.digests
            elif action.change == Change.SUPPRESS:
                suppressed[stored.id] = action.status
        rename_subscribers(connection, names)
        replace_digests(connection, digests)
        suppress_subscribers(connection, suppressed, self.now)


def _written_in_order(
    writer: _BatchWriter, batches: Iterator[CheckedBatch], at_once: int
) -> Iterator[_BatchOutcome]:
    """Each batch admitted in file order and written, up to `at_once` batches at a time on
    threads of their own (1: here, one after the other); their outcomes in file order."""
    if at_once <= 1:
        for batch in batches:
            yield writer.write(writer.admit(batch), _nothing_before)
        return
    writing: collections.deque[Future[_BatchOutcome]] = collections.deque()
    with ThreadPoolExecutor(at_once, thread_name_prefix="import-writer") as threads:
        try:
            previous: Callable[[], object] = _nothing_before
            for batch in batches:
                if len(writing) == at_once:
                    yield writing.popleft().result()
                admitted = writer.admit(batch)
                writing.append(threads.submit(writer.write, admitted, previous))
                previous = writing[-1].result
            while writing:
                yield writing.popleft().result()
        finally:
            for unwritten in writing:  # a failed batch fails the ones after it too
                unwritten.cancel()


def _nothing_before() -> None:
    """The first batch waits for no other."""


def _encoded(row: CheckedRow) -> str:
    """A row checked without its item (made by hand, as tests do) as a new subscriber."""
    return _with_item(row, new_nonce())[-1]


def _decided(
    rows: list[CheckedRow], existing: dict[str, StoredSubscriber]
) -> list[tuple[CheckedRow, ImportAction]]:
    """Each row with its `import_action`. A row with no stored subscriber is decided by its
    status alone, so those are decided once per status: most rows of a first import."""
    new_rows: dict[str, ImportAction] = {}
    actions = []
    for row in rows:
        stored = existing.get(row.key)
        if stored is not None:
            actions.append((row, import_action(row, stored)))
            continue
        action = new_rows.get(row.status)
        if action is None:
            action = new_rows[row.status] = import_action(row, None)
        actions.append((row, action))
    return actions


# Reading ahead ------------------------------------------------------------------------------

_Task = Callable[[], CheckedBatch]


def _checked_batches(
    source: TextIO,
    first_line: int,
    columns: tuple[int | None, ...],
    known_digests: tuple[str, ...],
    workers: int,
) -> Iterator[CheckedBatch]:
    """The file's batches, checked, in order. A thread reads them ahead (so a batch is written
    while the next ones are read and checked) and, past a few batches, hands the reading of
    their CSV and the checking to `workers` processes."""
    ahead: queue.Queue[_Task | BaseException | None] = queue.Queue(BATCHES_AHEAD)
    stop = threading.Event()
    thread = threading.Thread(
        target=_read_ahead,
        args=(source, first_line, columns, known_digests, workers, ahead, stop),
        name="import-reader",
        daemon=True,
    )
    thread.start()
    try:
        while (task := ahead.get()) is not None:
            if isinstance(task, BaseException):
                raise task
            yield task()
    finally:
        stop.set()
        while thread.is_alive():  # it may wait to hand over a batch: take it
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.05)
        thread.join()


def _read_ahead(
    source: TextIO,
    first_line: int,
    columns: tuple[int | None, ...],
    known_digests: tuple[str, ...],
    workers: int,
    ahead: queue.Queue[_Task | BaseException | None],
    stop: threading.Event,
) -> None:
    pool: ProcessPoolExecutor | None = None
    try:
        for number, (start, lines) in enumerate(_line_batches(source, first_line)):
            if pool is None and workers > 0 and number >= PARALLEL_AFTER_BATCHES:
                context = multiprocessing.get_context(_start_method())
                pool = ProcessPoolExecutor(workers, mp_context=context)
            task: _Task
            if pool is None:
                task = functools.partial(check_lines, start, lines, columns, known_digests)
            else:
                task = pool.submit(check_lines, start, lines, columns, known_digests).result
            if not _hand_over(ahead, task, stop):
                return
        _hand_over(ahead, None, stop)
    except BaseException as error:  # raised again by the writing side
        _hand_over(ahead, error, stop)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=stop.is_set())


def _line_batches(source: TextIO, first_line: int) -> Iterator[tuple[int, list[str]]]:
    """The file's lines, `BATCH_ROWS` rows at a time, each batch with the number of its first
    line. A row ends at the end of a line outside quotes (in CSV a quote inside a quoted field
    is doubled, so the quotes so far in the row are even there)."""
    batch: list[str] = []
    rows = quotes = characters = 0
    start = first_line
    for number, line in enumerate(source, start=first_line):
        batch.append(line)
        quotes += line.count('"')
        if quotes % 2:
            characters += len(line)
            if characters > csv.field_size_limit():
                raise SubscriberError(f"line {start}: a quoted field that never ends")
            continue
        rows, quotes, characters = rows + 1, 0, 0
        if rows == BATCH_ROWS:
            yield start, batch
            batch, rows, start = [], 0, number + 1
    if batch:
        yield start, batch


def _hand_over(
    ahead: queue.Queue[_Task | BaseException | None],
    item: _Task | BaseException | None,
    stop: threading.Event,
) -> bool:
    """Queue `item` for the writer; False if the writer stopped first."""
    while not stop.is_set():
        try:
            ahead.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _start_method() -> str:
    """A fresh interpreter per worker where the platform has one that is cheap to start:
    forking a process that holds database connections and threads is not safe."""
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"
