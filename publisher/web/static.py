"""The static site, rendered directly by the web app's own page functions: the same pages
`serve` answers, with the site's URLs (never a local preview's), and no request, server or
crawl (`publisher.web.static_pages` lists them; `publisher.site.static` writes them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.site.static import (
    Manifest,
    StaticReport,
    WrittenFiles,
    finish_static_site,
    read_manifest,
    static_inputs_fingerprint,
    static_shared_fingerprint,
    write_files,
)
from publisher.store.database import open_store

if TYPE_CHECKING:
    from publisher.web.static_pages import StaticPages


def build_static_site(
    config: Config, environ: Mapping[str, str], clock: Clock = system_clock
) -> StaticReport:
    """Write every public page of the site under `[site] output` (`publisher build`).

    When nothing a page shows changed since the last static build (articles, profiles,
    editions, config, templates, media, catalogs), nothing is rendered and no output file is
    looked at: a site of thousands of pages costs a few reads. Otherwise only the pages whose
    own inputs changed are rendered (`publisher.site.static`).
    """
    if config.site_dir is None:
        return StaticReport(None, written=0, unchanged=0, removed=0)
    output = config.site_dir
    previous = read_manifest(output)
    with open_store(config.store_url) as store, store.read() as connection:
        shared = static_shared_fingerprint(connection, config)
        inputs = static_inputs_fingerprint(connection, config, shared)
    if inputs is not None and previous.inputs == inputs:
        return StaticReport(output, written=0, unchanged=len(previous.files), removed=0)
    # The pages' code loads only when a page may have to be rendered.
    from publisher.audience.tokens import load_secret
    from publisher.web.site import WebSite
    from publisher.web.static_pages import StaticPages

    secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)
    with open_store(config.store_url) as store:
        site = WebSite(config, store, secret, clock, environ)
        with store.read() as connection:
            pages = StaticPages(site, connection, shared, previous)
            if len(pages.data.index.published) < PARALLEL_FROM or _processes() < 2:
                parts = [write_files(output, pages.files(), previous)]
            else:
                parts = _write_in_processes(config, output, pages, previous)
            return finish_static_site(output, parts, previous, inputs)


PARALLEL_FROM = 500  # articles: below, forking costs more than a second process gains


def _processes() -> int:
    return min(os.cpu_count() or 1, 4)


# The pages a forked worker makes: set before the fork, inherited, never pickled.
_FORKED_PAGES: tuple[Config, Path, StaticPages, Manifest] | None = None


def _write_in_processes(
    config: Config, output: Path, pages: StaticPages, previous: Manifest
) -> list[WrittenFiles]:
    """Write the files in `processes` processes: this one and forked workers, each its share
    (every worker reads the articles' bodies through its own connection)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _FORKED_PAGES
    _FORKED_PAGES = (config, output, pages, previous)
    processes = _processes()
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes - 1, mp_context=context) as pool:
            workers = [pool.submit(_write_share, n, processes) for n in range(1, processes)]
            pages.share(pages.connection, 0, processes)
            here = write_files(output, pages.files(), previous)
            return [here, *(worker.result() for worker in workers)]
    finally:
        _FORKED_PAGES = None


def _write_share(number: int, shares: int) -> WrittenFiles:
    assert _FORKED_PAGES is not None, "only in a worker forked by _write_in_processes"
    config, output, pages, previous = _FORKED_PAGES
    with open_store(config.store_url) as store, store.read() as connection:
        pages.share(connection, number, shares)
        return write_files(output, pages.files(), previous)
