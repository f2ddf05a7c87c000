"""One edition to every subscriber: messages built and sent per second, and peak memory.

Usage: python benchmarks/delivery.py [--subscribers 10000] [--memory-subscribers 100000]
                                     [--naive-sample 200] [--connections 1 4]
                                     [--sink-on-same-core]

On a temp copy of the bundled sample site (gathered at the sample's "now", a 10-article `daily`
edition, subscribers bulk-inserted into the store), measures in one run:
- built: `PreparedEdition` plus `message_for` for every subscriber, with real unsubscribe
  tokens, on one core; the target is 10,000 messages per second;
- naive: premailer per subscriber (`render_for_recipient`) plus an `EmailMessage`, for a
  sample of subscribers, extrapolated to all of them;
- sent: `send_edition` end to end (its SQLite ledger included) on 1 and 4 connections, against
  as many bare smtplib loops in parallel threads sending one built message to the same sink
  once per subscriber; the targets are 1.0x on one connection and 0.9x on four;
- memory: the tracemalloc peak while building for --memory-subscribers, streamed from the
  store in batches of `[delivery] batch_size` as delivery does, beside the peak for
  --subscribers (flat memory shows as two similar peaks), and the process's peak RSS;
- signed: DKIM signatures (RSA-2048 and Ed25519) over built messages on one core; the target
  is 1,000 messages per second with RSA-2048.
The sink is a minimal SMTP server (asyncio, in its own process, on another core when there is
one) that answers each command, offers PIPELINING and throws the mail away, so the figures are
the sender's. A bare smtplib loop waits for four replies per message, publisher for two (it
pipelines), so send rates depend on the loopback round trip, printed too:
on some virtual machines a wake-up across cores costs far more than the work on either side
(--sink-on-same-core shows the sender's own cost better). It is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import logging
import multiprocessing
import os
import resource
import shutil
import smtplib
import tempfile
import threading
import time
import tomllib
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import sqlalchemy as sa

from publisher.audience.subscribers import check_name
from publisher.audience.tokens import load_secret, make_token, new_nonce
from publisher.config import Config, config_from_mapping
from publisher.content.articles import PublishedArticle
from publisher.mail.delivery.send import SendReport, send_edition
from publisher.mail.editions import Edition, create_edition
from publisher.mail.mime import PreparedEdition, message_id
from publisher.mail.render import EditionInfo, Recipient, render_for_recipient, template_environment
from publisher.mail.transport.smtp import SmtpTransport
from publisher.site.gather import gather
from publisher.store.articles import public_articles_since
from publisher.store.database import Store, open_store
from publisher.store.schema import deliveries, editions, subscribers, subscriptions
from publisher.store.statuses import SubscriberStatus
from publisher.urls import archive_url

REPO = Path(__file__).resolve().parent.parent
# The sample site's "now", as in tests/conftest.py: after every sample article but one.
SAMPLE_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DIGEST = "daily"
ARTICLES = 10
TARGET_PER_SECOND = 10_000
ENVIRON = {"PUBLISHER_SECRET": "a-benchmark-secret-of-enough-length"}
NAMES = ["Ada Lovelace", "Zoë Ångström", "山田 太郎", 'O\'Brien & "Co"', "Sam 🦊", ""]
INSERT_CHUNK = 10_000
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reader:
    """A stored subscriber, as a message to them needs it."""

    id: int
    email: str
    name: str
    token_nonce: str


@dataclass(frozen=True, slots=True)
class Site:
    """The temp site: its parsed config file, store and edition."""

    root: Path
    raw: dict[str, Any]
    store: Store
    edition: Edition
    articles: tuple[PublishedArticle, ...]

    def config(self, port: int = 25, connections: int = 1) -> Config:
        """The site's config; the port matters only to what sends."""
        return site_config(self.root, self.raw, port, connections)


def site_config(root: Path, raw: dict[str, Any], port: int = 25, connections: int = 1) -> Config:
    """The site's config, sending through SMTP on loopback `port`."""
    raw = copy.deepcopy(raw)
    raw["mail"] |= {
        "transport": "smtp",
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "connections": connections},
    }
    raw["delivery"] = {"retry_backoff": 0, "max_age": "3650d"}
    return config_from_mapping(raw, root / "config.toml")


# A minimal SMTP sink, in its own process ----------------------------------------------------


class _SinkProtocol(asyncio.Protocol):
    """Just enough SMTP for smtplib: every command accepted, every message counted and dropped."""

    def __init__(self, received: Any) -> None:
        self.received = received
        self.buffer = bytearray()
        self.scanned = 0
        self.in_data = False
        self.replies = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        # Replies to pipelined commands leave in one write, as real servers send them: three
        # small writes would meet Nagle's algorithm and the client's delayed ACKs.
        self.replies = bytearray()
        while self.transport is not None and (
            self._end_data() if self.in_data else self._command()
        ):
            pass
        if self.transport is not None and self.replies:
            self.transport.write(bytes(self.replies))
        self.replies = bytearray()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _command(self) -> bool:
        end = self.buffer.find(b"\r\n")
        if end < 0:
            return False
        verb = bytes(self.buffer[:4]).upper()
        # DATA keeps its CRLF, so an empty message's ".\r\n" still ends in "\r\n.\r\n".
        del self.buffer[: end if verb == b"DATA" else end + 2]
        self._reply(verb)
        return True

    def _end_data(self) -> bool:
        end = self.buffer.find(b"\r\n.\r\n", max(0, self.scanned - 4))
        if end < 0:
            self.scanned = len(self.buffer)
            return False
        del self.buffer[: end + 5]
        self.in_data, self.scanned = False, 0
        self.received.value += 1
        self._write(b"250 2.0.0 accepted\r\n")
        return True

    def _reply(self, verb: bytes) -> None:
        if verb == b"EHLO":
            self._write(
                b"250-sink\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 HELP\r\n"
            )
        elif verb == b"DATA":
            self.in_data = True
            self._write(b"354 end data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self._write(b"221 bye\r\n")
            if self.transport is not None:
                self.transport.write(bytes(self.replies))
                self.replies = bytearray()
                self.transport.close()
        else:
            self._write(b"250 OK\r\n")

    def _write(self, reply: bytes) -> None:
        self.replies += reply


def serve_sink(ready: Pipe, received: Any) -> None:
    """Run the sink on a free loopback port, sent back through `ready`, until terminated."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _SinkProtocol(received), "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(serve())


@dataclass(frozen=True, slots=True)
class Sink:
    port: int
    received: Any  # a shared ctypes integer: messages the sink has accepted


@contextmanager
def running_sink(cpu: int | None) -> Iterator[Sink]:
    """The sink in a fresh process, pinned to `cpu` if given."""
    context = multiprocessing.get_context("spawn")
    received = context.RawValue("q", 0)
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_sink, args=(theirs, received), daemon=True)
    process.start()
    try:
        if cpu is not None and process.pid is not None:
            os.sched_setaffinity(process.pid, {cpu})
        if not ours.poll(60):
            raise RuntimeError("the SMTP sink did not start")
        yield Sink(int(ours.recv()), received)
    finally:
        process.terminate()
        process.join(10)


def pin_to_one_core(sink_on_same_core: bool) -> tuple[int | None, int | None]:
    """Pin this process to its first CPU; returns (that CPU, the CPU for the sink)."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})
    other = cpus[0] if sink_on_same_core or len(cpus) == 1 else cpus[1]
    return cpus[0], other


# The site, its edition and subscribers ------------------------------------------------------


def make_site(root: Path, subscribed: int, stored: int) -> Site:
    """A copy of the sample site with a `daily` edition, `stored` subscribers, `subscribed`
    of them to `daily`."""
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "config.toml", root / "config.toml")
    raw = tomllib.loads((root / "config.toml").read_text(encoding="utf-8"))
    for digest in raw["digests"]:
        if digest["name"] == DIGEST:
            digest["max_articles"] = ARTICLES
    config = site_config(root, raw)
    store = open_store(config.store_url)
    gather(store, config, lambda: SAMPLE_NOW)
    outcome = create_edition(store, config, DIGEST, lambda: SAMPLE_NOW)
    if outcome.edition is None:
        raise RuntimeError(outcome.message)
    insert_subscribers(store, stored, subscribed)
    articles = edition_articles(store, outcome.edition)
    return Site(root, raw, store, outcome.edition, articles)


def edition_articles(store: Store, edition: Edition) -> tuple[PublishedArticle, ...]:
    """The edition's articles, in its order."""
    with store.transaction() as connection:
        by_guid = {published.guid: published for published in public_articles_since(connection, 0)}
    return tuple(by_guid[guid] for guid in edition.article_guids)


def subscriber_rows(first: int, count: int) -> list[dict[str, Any]]:
    """Confirmed subscribers numbered from `first`, written as `add_subscriber` writes them."""
    rows = []
    for number in range(first, first + count):
        base = NAMES[number % len(NAMES)]
        email = f"reader{number}@example.org"
        rows.append(
            {
                "email": email,
                "email_key": email.casefold(),
                "name": check_name(f"{base} {number}" if base else ""),
                "status": SubscriberStatus.CONFIRMED,
                "token_nonce": new_nonce(),
                "hard_bounces": 0,
                "created_at": SAMPLE_NOW,
                "confirmed_at": SAMPLE_NOW,
            }
        )
    return rows


def insert_subscribers(store: Store, stored: int, subscribed: int) -> None:
    """Bulk-insert `stored` subscribers in chunks; the first `subscribed` get `daily`."""
    for first in range(0, stored, INSERT_CHUNK):
        with store.transaction() as connection:
            rows = subscriber_rows(first, min(INSERT_CHUNK, stored - first))
            connection.execute(subscribers.insert(), rows)
    members = (
        sa.select(subscribers.c.id, sa.literal(DIGEST)).order_by(subscribers.c.id).limit(subscribed)
    )
    with store.transaction() as connection:
        connection.execute(subscriptions.insert().from_select(["subscriber_id", "digest"], members))


def readers_after(store: Store, after: int, limit: int) -> list[Reader]:
    """Up to `limit` subscribers with ids above `after`, in id order."""
    query = (
        sa.select(
            subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.token_nonce
        )
        .where(subscribers.c.id > after)
        .order_by(subscribers.c.id)
        .limit(limit)
    )
    with store.transaction() as connection:
        return [Reader(*row) for row in connection.execute(query)]


def streamed_readers(store: Store, count: int, batch_size: int) -> Iterator[Reader]:
    """The first `count` subscribers, read a batch at a time as delivery claims them."""
    last, left = 0, count
    while left > 0:
        batch = readers_after(store, last, min(batch_size, left))
        if not batch:
            return
        yield from batch
        last, left = batch[-1].id, left - len(batch)


# Building messages ----------------------------------------------------------------------------


def prepared_edition(config: Config, edition: Edition) -> PreparedEdition:
    return PreparedEdition(
        config, config.digest(edition.digest), edition.id, edition.created_at, edition.rendered
    )


def unsubscribe_url(config: Config, secret: bytes, reader: Reader) -> str:
    token = make_token(secret, "unsubscribe", reader.id, reader.token_nonce)
    return f"{config.web_base_url}unsubscribe/{token}"


def build_messages(
    config: Config, prepared: PreparedEdition, secret: bytes, readers: Iterable[Reader]
) -> tuple[int, int]:
    """Build each reader's message as delivery does, dropping it once made: (count, bytes)."""
    count = size = 0
    for reader in readers:
        recipient = Recipient(reader.name, reader.email, unsubscribe_url(config, secret, reader))
        _, message = prepared.message_for(reader.id, recipient)
        count, size = count + 1, size + len(message)
    return count, size


def naive_message(
    environment: jinja2.Environment, config: Config, site: Site, secret: bytes, reader: Reader
) -> bytes:
    """One reader's message the naive way: premailer for them alone, then an EmailMessage."""
    edition = site.edition
    url = unsubscribe_url(config, secret, reader)
    info = EditionInfo(
        edition.number, edition.created_at, archive_url(config, DIGEST, edition.number)
    )
    digest = config.digest(edition.digest)
    recipient = Recipient(reader.name, reader.email, url)
    html, text = render_for_recipient(environment, config, digest, info, site.articles, recipient)
    message = naive_headers(config, edition, reader, url)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes(policy=SMTP)


def naive_headers(config: Config, edition: Edition, reader: Reader, url: str) -> EmailMessage:
    """An EmailMessage with the headers publisher's messages carry."""
    assert config.mail is not None
    host = urlsplit(config.site.url).hostname
    message = EmailMessage()
    message["Date"] = format_datetime(edition.created_at)
    message["From"] = config.mail.sender
    if config.mail.reply_to:
        message["Reply-To"] = config.mail.reply_to
    message["To"] = Address(reader.name, addr_spec=reader.email)
    message["Subject"] = edition.subject
    message["Message-ID"] = message_id(edition.id, reader.id, config.site.url)
    message["List-Id"] = f"{config.digest(edition.digest).title} <{edition.digest}.{host}>"
    mailto = parseaddr(config.mail.sender)[1]
    message["List-Unsubscribe"] = f"<{url}>, <mailto:{mailto}?subject=unsubscribe>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    message["Auto-Submitted"] = "auto-generated"
    return message


# Sending ------------------------------------------------------------------------------------


def reset_ledger(store: Store, edition_id: int) -> None:
    """Forget an edition's delivery, so the next send starts it afresh."""
    with store.transaction() as connection:
        connection.execute(deliveries.delete().where(deliveries.c.edition_id == edition_id))
        connection.execute(
            editions.update()
            .where(editions.c.id == edition_id)
            .values(delivery_started_at=None, delivered_at=None)
        )


def send_with_publisher(site: Site, sink: Sink, connections: int) -> tuple[float, SendReport]:
    """Seconds for `send_edition` of the whole edition, and its report."""
    reset_ledger(site.store, site.edition.id)
    config = site.config(sink.port, connections)
    started = time.perf_counter()
    report = send_edition(site.store, config, site.edition.id, ENVIRON, clock=lambda: SAMPLE_NOW)
    return time.perf_counter() - started, report


def round_trip(sink: Sink, count: int = 2000) -> float:
    """Seconds for one command and its reply to the sink (NOOP), on one connection."""
    with smtplib.SMTP("127.0.0.1", sink.port) as connection:
        started = time.perf_counter()
        for _ in range(count):
            connection.noop()
        return (time.perf_counter() - started) / count


def send_with_smtplib(sink: Sink, sender: str, readers: list[Reader], message: bytes) -> float:
    """Seconds for a bare smtplib loop: one connection, `message` to each reader."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as connection:
        for reader in readers:
            connection.sendmail(sender, reader.email, message)
    return time.perf_counter() - started


def send_with_smtplib_threads(
    sink: Sink, sender: str, readers: list[Reader], message: bytes, threads: int
) -> float:
    """Seconds for `threads` bare smtplib loops in parallel threads, the readers shared out."""
    if threads == 1:
        return send_with_smtplib(sink, sender, readers, message)
    shares = [readers[n::threads] for n in range(threads)]
    workers = [
        threading.Thread(target=send_with_smtplib, args=(sink, sender, share, message))
        for share in shares
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def send_with_transport(
    config: Config, sender: str, readers: list[Reader], message: bytes
) -> float:
    """Seconds for publisher's SmtpTransport alone (no ledger, no building)."""
    assert config.mail is not None
    assert config.mail.smtp is not None
    transport = SmtpTransport(config.mail.smtp)
    started = time.perf_counter()
    try:
        for reader in readers:
            transport.send(sender, reader.email, message)
    finally:
        transport.close()
    return time.perf_counter() - started


# Memory ---------------------------------------------------------------------------------------


def peak_while(run: Callable[[], None]) -> int:
    """The tracemalloc peak, in bytes, of what `run` allocates."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def max_rss() -> int:
    """This process's peak resident set so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# The report -----------------------------------------------------------------------------------


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} msg/s"


def check_sent(report: SendReport, sink: Sink, before: int, expected: int) -> str:
    got = sink.received.value - before
    if report.sent != expected or got != expected:
        raise RuntimeError(f"expected {expected} sent; report {report.summary()}; sink got {got}")
    return f"{report.sent:,} sent, sink got {got:,}"


class Phases:
    """Wall-clock time of each phase, printed as it ends."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()

    def end(self, name: str) -> None:
        now = time.perf_counter()
        print(f"  [{name}: {now - self.last:.1f} s]")
        self.last = now

    def total(self) -> None:
        print(f"total: {time.perf_counter() - self.started:.1f} s")


class RecordedWarnings(logging.Handler):
    """The warnings a logger gives while attached: PreparedEdition warns when it must encode
    every message in full (its slow path)."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.WARNING)
        self.logger = logging.getLogger(logger)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> RecordedWarnings:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *_exception: object) -> None:
        self.logger.removeHandler(self)


def measure_build(site: Site, readers: list[Reader], secret: bytes) -> float:
    """Print the build rate; returns seconds per message."""
    config = site.config()
    started = time.perf_counter()
    with RecordedWarnings("publisher.mail.mime") as warnings:
        prepared = prepared_edition(config, site.edition)
    prepare_seconds = time.perf_counter() - started
    count, size = build_messages(config, prepared, secret, readers)
    seconds = time.perf_counter() - started
    verdict = "met" if count / seconds >= TARGET_PER_SECOND else "NOT met"
    each = (seconds - prepare_seconds) / count
    print(f"built, on one core: {rate(count, seconds)} (target {TARGET_PER_SECOND:,}/s: {verdict})")
    print(
        f"  {count:,} messages in {seconds:.3f} s: PreparedEdition {prepare_seconds * 1e3:.1f} ms"
        f", then {each * 1e6:.1f} µs each (fast path: {not warnings.records}); "
        f"{size / count:,.0f} bytes each on average"
    )
    return seconds / count


SIGN_TARGET_PER_SECOND = 1_000


def measure_signing(site: Site, readers: list[Reader], secret: bytes) -> None:
    """Print DKIM signatures per second on one core, for each algorithm, over built messages."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    from publisher.mail.transport.dkim import DkimSigner

    config = site.config()
    prepared = prepared_edition(config, site.edition)

    def built(reader: Reader) -> bytes:
        url = unsubscribe_url(config, secret, reader)
        return prepared.message_for(reader.id, Recipient(reader.name, reader.email, url))[1]

    messages = [built(reader) for reader in readers[:2000]]
    keys = {
        "rsa-sha256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519-sha256": ed25519.Ed25519PrivateKey.generate(),
    }
    for algorithm, key in keys.items():
        signer = DkimSigner("example.org", "bench", algorithm, key)
        started = time.perf_counter()
        for message in messages:
            signer.sign(message)
        seconds = time.perf_counter() - started
        verdict = "met" if len(messages) / seconds >= SIGN_TARGET_PER_SECOND else "NOT met"
        size = "RSA-2048" if algorithm == "rsa-sha256" else "Ed25519"
        print(
            f"DKIM-signed ({size}), on one core: {rate(len(messages), seconds)} "
            f"(target {SIGN_TARGET_PER_SECOND:,}/s: {verdict})"
        )


def measure_naive(site: Site, readers: list[Reader], secret: bytes, sample: int) -> float:
    """Print the naive path's rate, from a sample; returns seconds per message."""
    config = site.config()
    environment = template_environment(config.templates_dir)
    naive_message(environment, config, site, secret, readers[0])  # parse the templates once
    chosen = readers[:sample]
    started = time.perf_counter()
    size = sum(len(naive_message(environment, config, site, secret, r)) for r in chosen)
    each = (time.perf_counter() - started) / len(chosen)
    print(f"naive (premailer + EmailMessage per subscriber): {1 / each:,.0f} msg/s")
    print(
        f"  {len(chosen):,} sampled: {each * 1e3:.1f} ms each, {size / len(chosen):,.0f} bytes "
        f"each; {len(readers):,} would take {each * len(readers):,.1f} s"
    )
    return each


def sample_message(config: Config, site: Site, secret: bytes, reader: Reader) -> tuple[str, bytes]:
    """The envelope sender and the bytes of `reader`'s message, built as delivery builds it."""
    recipient = Recipient(reader.name, reader.email, unsubscribe_url(config, secret, reader))
    envelope, message = prepared_edition(config, site.edition).message_for(reader.id, recipient)
    return envelope.sender, message


def measure_baselines(site: Site, sink: Sink, readers: list[Reader], secret: bytes) -> float:
    """Print the sink's round trip and the rates of bare smtplib and SmtpTransport alone;
    returns the bare loop's seconds."""
    config = site.config(sink.port)
    sender, message = sample_message(config, site, secret, readers[0])
    print(
        f"sink round trip (NOOP): {round_trip(sink) * 1e6:.0f} µs; each message takes four "
        "(MAIL, RCPT, DATA, the content), two when pipelined (MAIL+RCPT+DATA, the content)"
    )
    bare = send_with_smtplib(sink, sender, readers, message)
    print(
        f"bare smtplib loop: {rate(len(readers), bare)} (one connection, the same bytes each time)"
    )
    alone = send_with_transport(config, sender, readers, message)
    assert config.mail is not None
    assert config.mail.smtp is not None
    every = config.mail.smtp.max_per_connection
    print(
        f"  SmtpTransport alone (the same bytes, a new connection every {every}): "
        f"{rate(len(readers), alone)}"
    )
    return bare


SEND_TARGETS = {1: 1.0}  # end to end vs bare loops, by connections; 0.9x for more than one


def measure_sending(
    site: Site, sink: Sink, readers: list[Reader], connections: int, secret: bytes
) -> None:
    """Print the rate of `send_edition` end to end, and its ratio to as many bare smtplib
    loops in parallel threads, measured just before on the same sink."""
    count = len(readers)
    sender, message = sample_message(site.config(sink.port), site, secret, readers[0])
    bare = send_with_smtplib_threads(sink, sender, readers, message, connections)
    before = sink.received.value
    seconds, report = send_with_publisher(site, sink, connections)
    plural = "s" * (connections > 1)
    print(
        f"sent, {connections} connection{plural}: {rate(count, seconds)} end to "
        f"end (send_edition, SQLite ledger; {check_sent(report, sink, before, count)})"
    )
    target = SEND_TARGETS.get(connections, 0.9)
    ratio = bare / seconds
    verdict = "met" if ratio >= target else "NOT met"
    print(
        f"  sent vs {connections} bare smtplib loop{plural} ({rate(count, bare)}): {ratio:.2f}x "
        f"(target {target:.1f}x: {verdict})"
    )


def measure_memory(site: Site, counts: tuple[int, int], secret: bytes) -> None:
    """Print the peak memory of building for each count, streamed from the store."""
    config = site.config()
    prepared = prepared_edition(config, site.edition)
    batch = config.delivery.batch_size

    def build(count: int) -> Callable[[], None]:
        def run() -> None:
            readers = streamed_readers(site.store, count, batch)
            built, _ = build_messages(config, prepared, secret, readers)
            if built != count:
                raise RuntimeError(f"built {built} messages, not {count}")

        return run

    build(batch)()  # warm up: statement caches and the like are not per message
    small, large = counts
    small_peak = peak_while(build(small))
    rss_before = max_rss()
    large_peak = peak_while(build(large))
    rss_after = max_rss()
    print(f"memory, built while streaming from the store in batches of {batch} (tracemalloc peak):")
    print(f"  {small:,} subscribers: {small_peak / MIB:.2f} MiB")
    print(f"  {large:,} subscribers: {large_peak / MIB:.2f} MiB ({large_peak / small_peak:.2f}x)")
    print(
        f"  process peak RSS: {rss_before / MIB:.1f} MiB before the {large:,} run, "
        f"{rss_after / MIB:.1f} MiB after (+{(rss_after - rss_before) / MIB:.1f} MiB)"
    )


def run_phases(site: Site, sink: Sink, arguments: argparse.Namespace, phases: Phases) -> None:
    count = arguments.subscribers
    secret = load_secret(site.config().web.secret_env, site.root, ENVIRON)
    measure_memory(site, (count, arguments.memory_subscribers), secret)
    phases.end("memory")
    readers = readers_after(site.store, 0, count)
    built = measure_build(site, readers, secret)
    phases.end("build")
    measure_signing(site, readers, secret)
    phases.end("dkim")
    naive = measure_naive(site, readers, secret, arguments.naive_sample)
    print(f"built vs naive: {naive / built:,.0f}x faster")
    phases.end("naive")
    measure_baselines(site, sink, readers, secret)
    for connections in arguments.connections:
        measure_sending(site, sink, readers, connections, secret)
    phases.end("send")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--memory-subscribers", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--sink-on-same-core",
        action="store_true",
        help="run the SMTP sink on this process's core, not another one",
    )
    arguments = parser.parse_args()
    stored = max(arguments.subscribers, arguments.memory_subscribers)
    phases = Phases()
    ours, theirs = pin_to_one_core(arguments.sink_on_same_core)
    print(f"CPU: this process pinned to {ours}; SMTP sink (minimal, asyncio) pinned to {theirs}")
    with tempfile.TemporaryDirectory() as folder, running_sink(theirs) as sink:
        site = make_site(Path(folder), arguments.subscribers, stored)
        print(
            f"setup: edition {site.edition.id} of {DIGEST!r} with {len(site.articles)} articles; "
            f"{stored:,} subscribers stored, {arguments.subscribers:,} subscribed"
        )
        phases.end("setup")
        try:
            run_phases(site, sink, arguments, phases)
        finally:
            site.store.close()
    phases.total()


if __name__ == "__main__":
    main()
