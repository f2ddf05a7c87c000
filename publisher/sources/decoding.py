"""Content-Encoding undone a piece at a time, with a cap on what comes out.

A few kilobytes of gzip or brotli can inflate to gigabytes, so a body is never decoded in one
call: each step yields at most `PIECE` bytes at a time, and the total is checked against the
cap as it grows. Pure: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import brotli

PIECE = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate, br"


class DecodingError(Exception):
    """A body that cannot be decoded, or decodes to more than the cap; says which."""


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self._decoder = zlib.decompressobj(wbits)
        self._raw_fallback = wbits == zlib.MAX_WBITS  # `deflate` servers that send raw deflate
        self._started = False

    def pieces(self, data: bytes) -> Iterator[bytes]:
        while not self._decoder.eof:
            try:
                out = self._decoder.decompress(data, PIECE)
            except zlib.error as error:
                if self._started or not self._raw_fallback:
                    raise DecodingError(f"bad compressed body ({error})") from None
                self._decoder, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            self._started = True
            data = self._decoder.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < PIECE:
                return  # all input taken and no output left waiting

    def end(self) -> Iterator[bytes]:
        yield from self.pieces(b"")
        try:
            rest = self._decoder.flush()
        except zlib.error as error:
            raise DecodingError(f"bad compressed body ({error})") from None
        if rest:
            yield rest


class _Brotli:
    def __init__(self) -> None:
        self._decoder = brotli.Decompressor()

    def pieces(self, data: bytes) -> Iterator[bytes]:
        try:
            if data:
                yield self._decoder.process(data, output_buffer_limit=PIECE)
            while not self._decoder.can_accept_more_data():
                yield self._decoder.process(b"", output_buffer_limit=PIECE)
        except brotli.error as error:
            raise DecodingError(f"bad brotli body ({error})") from None

    def end(self) -> Iterator[bytes]:
        yield from self.pieces(b"")


_Step = _Zlib | _Brotli


def _step(encoding: str) -> _Step | None:
    if encoding in ("gzip", "x-gzip"):
        return _Zlib(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if encoding == "br":
        return _Brotli()
    if encoding in ("identity", ""):
        return None
    raise DecodingError(f"unsupported Content-Encoding {encoding!r}")


class CappedDecoder:
    """Undoes a Content-Encoding (`gzip`, `deflate`, `br`, or several, as listed) piece by
    piece; DecodingError once the decoded body passes `cap` bytes."""

    def __init__(self, content_encoding: str, cap: int) -> None:
        names = [name.strip().lower() for name in content_encoding.split(",")]
        # Encodings are listed in the order they were applied: undo them last first.
        self._steps = [step for step in map(_step, reversed(names)) if step is not None]
        self._cap = cap
        self._size = 0
        self._chunks: list[bytes] = []

    def feed(self, data: bytes) -> None:
        """Decode one chunk of the body as it came off the wire."""
        for piece in self._through(0, data):
            self._keep(piece)

    def body(self) -> bytes:
        """The whole decoded body, once the last chunk was fed."""
        for index, step in enumerate(self._steps):
            for piece in step.end():
                for out in self._through(index + 1, piece):
                    self._keep(out)
        return b"".join(self._chunks)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._steps):
            if data:
                yield data
            return
        for piece in self._steps[index].pieces(data):
            yield from self._through(index + 1, piece)

    def _keep(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size > self._cap:
            raise DecodingError(f"body is over the {self._cap}-byte limit")
        self._chunks.append(piece)
