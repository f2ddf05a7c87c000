"""Exporting subscribers: CSV that `subscribers import` reads back, or JSON Lines, written a
chunk of rows at a time from rows streamed out of the store, so memory stays flat."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from publisher.audience.subscribers import CSV_HEADER
from publisher.store.statuses import SubscriberStatus

CHUNK_ROWS = 1_000  # rows written to the output at a time
EXPORT_COLUMNS = (*CSV_HEADER, "status", "created_at", "address_hash")
_Item = TypeVar("_Item")


class Exported(Protocol):
    """What an export writes of a subscriber (the store's `SubscriberRow` is one)."""

    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def digests(self) -> Sequence[str]: ...
    @property
    def created_at(self) -> datetime: ...


def export_csv(found: Iterable[Exported], forgotten: Iterable[str] = ()) -> Iterator[str]:
    """CSV text (header first), a chunk of rows at a time: email, name, digests, status,
    created_at; first a `forgotten` row with each kept `address_hash` (forgotten subscribers
    have no address)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for hashes in _chunks(forgotten, CHUNK_ROWS):
        writer.writerows(["", "", "", SubscriberStatus.FORGOTTEN, "", digest] for digest in hashes)
        yield _drain(buffer)
    for chunk in _chunks(_exportable(found), CHUNK_ROWS):
        writer.writerows(
            [
                subscriber.email,
                subscriber.name,
                " ".join(subscriber.digests),
                subscriber.status,
                subscriber.created_at.isoformat(),
                "",
            ]
            for subscriber in chunk
        )
        yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)


def export_json_lines(found: Iterable[Exported], forgotten: Iterable[str] = ()) -> Iterator[str]:
    """The same as `export_csv`, one JSON object a line, a chunk of lines at a time."""
    for hashes in _chunks(forgotten, CHUNK_ROWS):
        yield "".join(
            json.dumps({"status": SubscriberStatus.FORGOTTEN, "address_hash": digest}) + "\n"
            for digest in hashes
        )
    for chunk in _chunks(_exportable(found), CHUNK_ROWS):
        yield "".join(
            json.dumps(
                {
                    "email": subscriber.email,
                    "name": subscriber.name,
                    "digests": list(subscriber.digests),
                    "status": subscriber.status,
                    "created_at": subscriber.created_at.isoformat(),
                },
                ensure_ascii=False,
            )
            + "\n"
            for subscriber in chunk
        )


def _chunks(items: Iterable[_Item], size: int) -> Iterator[tuple[_Item, ...]]:
    """`items` in tuples of `size` (the last one shorter); itertools.batched from 3.12."""
    iterator = iter(items)
    while chunk := tuple(itertools.islice(iterator, size)):
        yield chunk


def _exportable(found: Iterable[Exported]) -> Iterator[Exported]:
    return (subscriber for subscriber in found if subscriber.status != SubscriberStatus.FORGOTTEN)


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value
