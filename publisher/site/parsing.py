"""Articles parsed in forked worker processes when there are many (a first gather, a new
rendering of every article): parsing is pure and takes most of a gather's time, so each core
takes a share; the results come back in the order of the files."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from publisher.content.articles import Article, MediaLookup, SiteSettings, parse_article
from publisher.errors import ContentError

PARALLEL_FROM = 200  # files: below, forking costs more than the other cores gain
_CHUNK = 32  # files sent to a worker at a time

# What every worker parses with: set before the fork, inherited, never pickled.
_FORKED: tuple[SiteSettings, MediaLookup] | None = None


def parsed_articles(
    files: Sequence[tuple[str, bytes]], site: SiteSettings, media: MediaLookup
) -> Iterator[Article | ContentError]:
    """Each file (its content-folder path and bytes) parsed, or the error that stops it, in
    the order given: in this process for a few files, in forked workers for many."""
    processes = min(os.cpu_count() or 1, 4)
    if len(files) < PARALLEL_FROM or processes < 2:
        yield from (_parse(source, raw, site, media) for source, raw in files)
        return
    import multiprocessing  # only here: a gather with little to parse does without
    from concurrent.futures import ProcessPoolExecutor

    global _FORKED
    _FORKED = (site, media)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            for result in pool.map(_parse_in_worker, files, chunksize=_CHUNK):
                yield _error(*result) if isinstance(result, tuple) else result
    finally:
        _FORKED = None


def _parse(
    source: str, raw: bytes, site: SiteSettings, media: MediaLookup
) -> Article | ContentError:
    try:
        return parse_article(source, raw, site, media)
    except ContentError as error:
        return error


def _parse_in_worker(file: tuple[str, bytes]) -> Article | tuple[str, int, str]:
    assert _FORKED is not None, "only in a worker forked by parsed_articles"
    parsed = _parse(file[0], file[1], *_FORKED)
    if isinstance(parsed, ContentError):  # its arguments are not those it pickles with
        return parsed.path, parsed.line, parsed.message
    return parsed


def _error(path: str, line: int, message: str) -> ContentError:
    return ContentError(path, line, message)
