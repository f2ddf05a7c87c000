"""A million subscribers: import, export, list, counts, search, `digest create` and `send`
set-up, each beside its goal, on SQLite and (given --postgres) on PostgreSQL.

Usage: python benchmarks/million.py [--subscribers 1000000] [--postgres URL] [--no-sqlite]
                                    [--send] [--send-seconds 0] [--send-workers 4]

For each database: a temp copy of the sample site, gathered; a CSV of --subscribers people
(names and addresses drawn the way real lists look: a few big mail providers and many small
domains, common surnames and a long tail; 0.1% bad addresses, 0.1% repeated) imported with
the real `publisher subscribers import` (a subprocess, so its peak memory is its own), then
imported again (every row unchanged), exported as CSV and as JSON Lines, listed; `publisher
status`; each store query the admin pages and the API use, timed in process (median of 15
after a warm-up) and its plan printed; `publisher digest create`; and the send set-up (the
ledger's rows for every confirmed subscriber of the digest).

--postgres URL names a server and a role that may create databases; a fresh database is made
and dropped. With --send (PostgreSQL), --send-workers `publisher send` processes share the
edition's ledger against a loopback SMTP sink that records every recipient: the rate is
printed every 10 s, and at the end (or after --send-seconds) the ledger and the sink are
compared: every row sent once, none twice. The sink runs in its own process.

A measurement, not a test. Memory figures are each subprocess's peak RSS (wait4).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from publisher.audience.forgetting import forget_address
from publisher.mail.delivery.send import start_delivery
from publisher.store.database import Store, open_store
from publisher.store.plans import plans_of
from publisher.store.schema import deliveries, editions, subscribers
from publisher.store.subscribers import (
    SubscriberFilter,
    SubscriberSearch,
    count_found,
    every_status_count,
    found_subscribers,
    search_subscribers,
    status_counts,
    subscriber_page,
    subscribers_by_address_prefix,
    subscribers_by_name_words,
)

REPO = Path(__file__).resolve().parent.parent
SECRET = "a-benchmark-secret-of-enough-length"
MIB = 1024 * 1024
GOALS = {
    "import": "goal >= 20,000 rows/s (1M in under 60 s)",
    "export": "goal 1M in < 30 s, peak RSS < 150 MB",
    "query": "goal < 50 ms",
}

# People ---------------------------------------------------------------------------------------

FIRST = """
    James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara
    Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy
    Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew
    Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Edward
    Deborah Zoë Søren Ana José Chloé Björn Łukasz Mei Hiroshi Aisha Omar Priya Ananya Kwame
    Ngozi Olga Dmitri Fatima Yusuf Ingrid Lars Giulia Marco Amélie Noël Siobhán Seán
"""
SURNAMES = """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White
    Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres
    Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts
    Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Dubois Lefèvre Moreau Rossi
    Russo Ferrari Kowalski Nowak Novák Svoboda Jensen Nielsen Hansen Andersson Johansson
    O'Brien Murphy Kelly Tanaka Suzuki Kim Park Chen Wang Singh Patel Okafor Mensah
"""
SYLLABLES = "ka lo ri ven dor mar sil tan bel quin ros fa nu lem ter ga vis hol pen dra"
PROVIDERS = (
    ("gmail.com", 30),
    ("yahoo.com", 8),
    ("hotmail.com", 6),
    ("outlook.com", 5),
    ("icloud.com", 4),
    ("aol.com", 2),
    ("gmx.de", 2),
    ("web.de", 2),
    ("orange.fr", 1),
    ("btinternet.com", 1),
)
SMALL_DOMAINS = 20_000  # employers, universities, vanity domains: 39% of the addresses


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    name: str
    digests: str


def people(count: int, seed: int = 22) -> Iterator[Person]:
    """`count` made-up readers, the same ones for the same seed."""
    rnd = random.Random(seed)
    firsts, surnames = FIRST.split(), SURNAMES.split()
    popularity = list(itertools.accumulate(1 / (rank + 3) for rank in range(len(firsts))))
    providers = [name for name, weight in PROVIDERS for _ in range(weight)]
    small = [
        f"{_made_up(rnd, 2)}.{rnd.choice(['com', 'org', 'net', 'co.uk', 'de', 'io'])}"
        for _ in range(SMALL_DOMAINS)
    ]
    given: list[str] = []
    for number in range(count):
        [first] = rnd.choices(firsts, cum_weights=popularity)
        common = rnd.random() < 0.6
        last = rnd.choice(surnames) if common else _made_up(rnd, 3).title()
        domain = rnd.choice(providers) if rnd.random() < 0.61 else rnd.choice(small)
        local = rnd.choice([f"{first}.{last}", f"{first[0]}{last}", first, f"{last}.{first[0]}"])
        local = "".join(ch for ch in local.lower() if ch.isascii() and (ch.isalnum() or ch == "."))
        email = f"{local or 'reader'}{number}@{domain}"
        if rnd.random() < 0.05:
            email = email.capitalize()
        if rnd.random() < 0.001:
            email = email.replace("@", " at ")  # a bad address
        elif given and rnd.random() < 0.001:
            email = rnd.choice(given).upper()  # someone twice
        if len(given) < 1000:
            given.append(email)
        digests = rnd.choice(["daily", "daily", "daily", "culture", "daily culture", ""])
        yield Person(email, f"{first} {last}" if rnd.random() < 0.9 else "", digests)


def _made_up(rnd: random.Random, syllables: int) -> str:
    return "".join(rnd.choice(SYLLABLES.split()) for _ in range(syllables))


def write_people(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "name", "digests"])
        writer.writerows((p.email, p.name, p.digests) for p in people(count))


# The site and its commands ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    root: Path
    store_url: str

    def environment(self) -> dict[str, str]:
        kept = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
        return kept | {"PUBLISHER_STORE_URL": self.store_url, "PUBLISHER_SECRET": SECRET}


def make_site(root: Path, store_url: str) -> Site:
    shutil.copytree(REPO / "content", root / "content")
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    (root / "config.toml").write_text(
        text + '\n[delivery]\nmax_age = "3650d"\nretry_backoff = 0\n', encoding="utf-8"
    )
    return Site(root, store_url)


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    peak_rss: int
    output: str
    errors: str
    cpu: float = 0.0  # user + system seconds of the command and the children it waited for


def run_cli(site: Site, *args: str, stdout: Path | None = None) -> Run:
    """`publisher ARGS` in the site's folder: wall time, peak RSS, output (or into a file)."""
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as output:
        out = stdout.open("wb") if stdout else output
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "publisher", *args],
            cwd=site.root,
            env=site.environment(),
            stdout=out,
            stderr=errors,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if stdout:
            out.close()
        errors.seek(0)
        output.seek(0)
        problems = errors.read().decode(errors="replace")
        if process.returncode not in (0, 1):
            raise RuntimeError(f"publisher {' '.join(args)}: {problems[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return Run(seconds, usage.ru_maxrss * 1024, output.read().decode(), problems, cpu)


# Timing queries ---------------------------------------------------------------------------------


def median_ms(run: Callable[[], object], times: int = 15) -> float:
    run()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def show_plans(store: Store, query: Callable[[sa.Connection], object]) -> list[str]:
    """The plan of each statement the query runs, one line each: the listing itself, and
    around it a search's count of a prefix's share, or a page's look-up of digests."""
    with store.transaction() as connection:
        plans = plans_of(connection, query)
    return ["; ".join(step.strip() for step in plan.steps[:6]) for plan in plans]


def measure_queries(store: Store) -> None:
    with store.transaction() as connection:
        top = int(connection.scalar(sa.select(sa.func.max(subscribers.c.id))) or 0)
        sample = connection.execute(
            sa.select(subscribers.c.email_key, subscribers.c.name).where(
                subscribers.c.id == top // 2
            )
        ).one()
    deep = top * 9 // 10
    local = sample.email_key.split("@")[0]
    surname = sample.name.split()[-1] if sample.name else "smith"
    queries: dict[str, Callable[[sa.Connection], object]] = {
        "status counts": lambda c: status_counts(c),
        "per-digest counts": lambda c: every_status_count(c),
        "page 1 (50 by id)": lambda c: subscriber_page(c),
        f"page after id {deep:,}": lambda c: subscriber_page(c, after=deep),
        "page, status unsubscribed": lambda c: subscriber_page(
            c, SubscriberFilter(status="unsubscribed"), after=deep
        ),
        "page, digest culture": lambda c: subscriber_page(
            c, SubscriberFilter(digest="culture"), after=deep
        ),
        "page, confirmed + culture": lambda c: subscriber_page(
            c, SubscriberFilter("confirmed", "culture"), after=deep
        ),
        f"address prefix {local[:3]!r}": lambda c: subscribers_by_address_prefix(c, local[:3]),
        f"address prefix {local[:1]!r}": lambda c: subscribers_by_address_prefix(c, local[:1]),
        f"address prefix {sample.email_key!r}": lambda c: subscribers_by_address_prefix(
            c, sample.email_key
        ),
        f"name word {surname!r}": lambda c: subscribers_by_name_words(c, surname),
        "name words 'mary smi'": lambda c: subscribers_by_name_words(c, "mary smi"),
        f"name word prefix {surname[:2]!r}": lambda c: subscribers_by_name_words(c, surname[:2]),
        "search box 'jame'": lambda c: search_subscribers(c, "jame"),
        "admin/API search 'jame' (id order)": lambda c: found_subscribers(
            c, SubscriberSearch("jame")
        ),
        "admin/API search 'mary smi' (id order)": lambda c: found_subscribers(
            c, SubscriberSearch("mary smi")
        ),
        "admin/API count found 'jame'": lambda c: [count_found(c, SubscriberSearch("jame"))],
        "admin/API count, confirmed + culture": lambda c: [
            count_found(c, SubscriberSearch("", "confirmed", "culture"))
        ],
        # A text about 1.2% of the addresses start with, filtered by a digest a third keep.
        "admin/API search 'davi', digest culture": lambda c: found_subscribers(
            c, SubscriberSearch("davi", digest="culture")
        ),
        "admin/API count found 'davi', digest culture": lambda c: [
            count_found(c, SubscriberSearch("davi", digest="culture"))
        ],
        "admin/API search 'mary', confirmed": lambda c: found_subscribers(
            c, SubscriberSearch("mary", status="confirmed")
        ),
        "admin/API search 'mary', digest culture": lambda c: found_subscribers(
            c, SubscriberSearch("mary", digest="culture")
        ),
        "admin page 200 (offset 9,950)": lambda c: found_subscribers(
            c, SubscriberSearch(), offset=9_950
        ),
    }
    print(f"queries in process ({GOALS['query']}; median of 15 after a warm-up):")
    for label, query in queries.items():
        with store.transaction() as connection:
            rows = query(connection)

        def timed(query: Callable[[sa.Connection], object] = query) -> None:
            with store.transaction() as connection:
                query(connection)

        ms = median_ms(timed)
        found = len(rows)  # type: ignore[arg-type]
        verdict = "met" if ms < 50 else "NOT met"
        print(f"  {label}: {ms:.1f} ms ({found} rows; {verdict})")
        for plan in show_plans(store, query):
            print(f"    plan: {plan}")
    started = time.perf_counter()
    forget_address(store, SECRET.encode(), sample.email_key, datetime.now(UTC))
    print(
        f"forget one subscriber: {(time.perf_counter() - started) * 1000:.0f} ms "
        "(on SQLite this rewrites the name index without their name)"
    )


# Sending ------------------------------------------------------------------------------------------


class _SinkProtocol(asyncio.Protocol):
    """Just enough SMTP: every command accepted, every recipient recorded, mail dropped."""

    def __init__(self, seen: set[bytes], counts: Any) -> None:
        self.seen, self.counts = seen, counts
        self.buffer = bytearray()
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = bytearray()
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                del self.buffer[: end + 5]
                self.in_data = False
                self.counts[0] += 1
                replies += b"250 2.0.0 accepted\r\n"
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            replies += self._reply(line[:4].upper(), line)
        if self.transport is not None and replies:
            self.transport.write(bytes(replies))

    def _reply(self, verb: bytes, line: bytes) -> bytes:
        if verb == b"EHLO":
            return b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 HELP\r\n"
        if verb == b"RCPT":
            recipient = line.partition(b":")[2].strip().lower()
            if recipient in self.seen:
                self.counts[1] += 1  # a second message to the same recipient
            self.seen.add(recipient)
            return b"250 OK\r\n"
        if verb == b"DATA":
            self.in_data = True  # the content ends "\r\n.\r\n": it is never empty here
            return b"354 go ahead\r\n"
        if verb == b"QUIT":
            if self.transport is not None:
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                self.transport = None
            return b""
        return b"250 OK\r\n"


def serve_sink(ready: Pipe, counts: Any) -> None:
    seen: set[bytes] = set()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _SinkProtocol(seen, counts), "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(serve())


@contextmanager
def running_sink() -> Iterator[tuple[int, Any]]:
    """The sink in its own process: its port, and shared counts (messages, doubled)."""
    context = multiprocessing.get_context("spawn")
    counts = context.RawArray("q", 2)
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_sink, args=(theirs, counts), daemon=True)
    process.start()
    try:
        if not ours.poll(60):
            raise RuntimeError("the SMTP sink did not start")
        yield int(ours.recv()), counts
    finally:
        process.terminate()
        process.join(10)


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """Stop each worker with SIGTERM (it records its messages in flight, then exits); one
    that has not ended a minute later is killed."""
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    for worker in workers:
        try:
            worker.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
            print(f"  worker {worker.pid} did not stop on SIGTERM within a minute: killed")


def send_with_workers(site: Site, store: Store, edition_id: int, arguments: Any) -> None:
    """`--send-workers` `publisher send` processes on one ledger, against the sink."""
    with running_sink() as (port, counts):
        config = site.root / "config.toml"
        text = config.read_text(encoding="utf-8").replace(
            "[mail]\n", '[mail]\ntransport = "smtp"\n', 1
        )
        config.write_text(
            text + f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n',
            encoding="utf-8",
        )
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "publisher", "send", str(edition_id)],
                cwd=site.root,
                env=site.environment(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(arguments.send_workers)
        ]
        started = last_time = time.perf_counter()
        last_count, rates = 0, []
        while any(worker.poll() is None for worker in workers):
            time.sleep(10)
            now, received = time.perf_counter(), counts[0]
            rate = (received - last_count) / (now - last_time)
            rates.append(rate)
            print(f"  {now - started:5.0f} s: {received:,} sent, {rate:,.0f}/s", flush=True)
            last_time, last_count = now, received
            if arguments.send_seconds and now - started > arguments.send_seconds:
                stop_workers(workers)
        elapsed = time.perf_counter() - started
        with store.transaction() as connection:
            sent = connection.scalar(
                sa.select(sa.func.count()).where(
                    deliveries.c.edition_id == edition_id, deliveries.c.status == "sent"
                )
            )
            rows = connection.scalar(
                sa.select(sa.func.count()).where(deliveries.c.edition_id == edition_id)
            )
        steady = statistics.median(rates[1:-1]) if len(rates) > 2 else rates[-1]
        print(
            f"send, {arguments.send_workers} worker processes on one ledger: {counts[0]:,} "
            f"messages in {elapsed:.0f} s; steady {steady:,.0f}/s "
            f"({steady / arguments.send_workers:,.0f}/s per worker)"
        )
        print(
            f"  ledger: {sent:,} of {rows:,} rows sent; sink: {counts[0]:,} messages, "
            f"{counts[1]} to a recipient twice"
        )


# One database -------------------------------------------------------------------------------------


def mb(size: int) -> str:
    return f"{size / MIB:,.0f} MB"


def measure(site: Site, csv_file: Path, count: int, arguments: Any) -> None:
    run_cli(site, "gather")
    imported = run_cli(site, "subscribers", "import", str(csv_file))
    rate = count / imported.seconds
    verdict = "met" if rate >= 20_000 else "NOT met"
    print(
        f"import {count:,} rows: {imported.seconds:.1f} s, {rate:,.0f} rows/s, "
        f"peak RSS {mb(imported.peak_rss)} ({GOALS['import']}: {verdict}); "
        f"CPU {imported.cpu:.0f} s in the command's own processes"
    )
    print(f"  {imported.output.strip()}; {len(imported.errors.splitlines())} error lines")
    again = run_cli(site, "subscribers", "import", str(csv_file))
    print(
        f"import again (every row there): {again.seconds:.1f} s, {count / again.seconds:,.0f}"
        f" rows/s; {again.output.strip()}"
    )
    for kind in ("csv", "json"):
        out = site.root / f"export.{kind}"
        exported = run_cli(site, "subscribers", "export", "--format", kind, stdout=out)
        lines = sum(1 for _ in out.open("rb"))
        ok = exported.seconds < 30 and exported.peak_rss < 150 * MIB
        print(
            f"export {kind}: {exported.seconds:.1f} s, {lines:,} lines, peak RSS "
            f"{mb(exported.peak_rss)} ({GOALS['export']}: {'met' if ok else 'NOT met'})"
        )
        out.unlink()
    listed = run_cli(site, "subscribers", "list", stdout=Path(os.devnull))
    print(
        f"list (not a terminal, every row): {listed.seconds:.1f} s, peak RSS {mb(listed.peak_rss)}"
    )
    page = run_cli(site, "subscribers", "list", "--limit", "50", "--after", str(count // 2))
    print(f"list --limit 50 --after {count // 2:,}: {page.seconds:.2f} s (the whole command)")
    status = run_cli(site, "status")
    print(f"status: {status.seconds:.2f} s (the whole command)")
    with open_store(site.store_url) as store:
        measure_queries(store)
        created = run_cli(site, "digest", "create", "daily")
        print(f"digest create: {created.seconds:.1f} s ({created.output.strip()})")
        with store.transaction() as connection:
            edition_id = connection.scalar(sa.select(sa.func.max(editions.c.id)))
        started = time.perf_counter()
        rows = start_delivery(store, int(edition_id), datetime.now(UTC))
        print(f"send set-up: {rows:,} ledger rows in {time.perf_counter() - started:.1f} s")
        print_sizes(store)
        if arguments.send:
            send_with_workers(site, store, int(edition_id), arguments)


def print_sizes(store: Store) -> None:
    """The tables' and indexes' sizes on disk, for the paper simulation of ten million."""
    with store.transaction() as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.exec_driver_sql(
                "SELECT c.relname, c.relkind, pg_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                "AND c.relkind IN ('r', 'i') AND pg_relation_size(c.oid) > 1048576 "
                "ORDER BY 3 DESC"
            ).all()
            print("sizes on disk (tables r, indexes i):")
            for name, kind, size in rows:
                print(f"  {name} ({kind}): {mb(int(size))}")
            return
        file = sa.make_url(str(store.engine.url)).database or ""
        print(f"sizes on disk: the SQLite file {mb(Path(file).stat().st_size)}")
        try:
            rows = connection.exec_driver_sql(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name HAVING sum(pgsize) > 1048576 "
                "ORDER BY 2 DESC"
            ).all()
        except sa.exc.OperationalError:
            return  # SQLite built without the dbstat table
        for name, size in rows:
            print(f"  {name}: {mb(int(size))}")


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"publisher_million_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a server URL whose role may create databases")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--send", action="store_true", help="send the edition (PostgreSQL)")
    parser.add_argument("--send-seconds", type=int, default=0, help="stop sending after this")
    parser.add_argument("--send-workers", type=int, default=4)
    arguments = parser.parse_args()
    count = arguments.subscribers
    with tempfile.TemporaryDirectory() as folder:
        csv_file = Path(folder) / "people.csv"
        started = time.perf_counter()
        write_people(csv_file, count)
        print(
            f"{count:,} people written to CSV ({csv_file.stat().st_size / MIB:,.0f} MB) in "
            f"{time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs, load {load_average()}"
        )
        if not arguments.no_sqlite:
            print("== SQLite")
            root = Path(folder) / "sqlite"
            root.mkdir()
            measure(
                make_site(root, f"sqlite:///{root / 'publisher.db'}"), csv_file, count, arguments
            )
            print(f"  (load average after: {load_average()})")
        if arguments.postgres:
            print("== PostgreSQL")
            with postgres_database(arguments.postgres) as url:
                root = Path(folder) / "postgresql"
                root.mkdir()
                measure(make_site(root, url), csv_file, count, arguments)
            print(f"  (load average after: {load_average()})")


if __name__ == "__main__":
    main()
