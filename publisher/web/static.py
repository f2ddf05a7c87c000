"""The static site, rendered directly by the web app's own page functions: the same pages
`serve` answers, with the site's URLs (never a local preview's), and no request, server or
crawl (`publisher.web.static_pages` lists them; `publisher.site.static` writes them)."""

from __future__ import annotations

from collections.abc import Mapping

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.site.static import (
    StaticReport,
    read_manifest,
    static_inputs_fingerprint,
    static_shared_fingerprint,
    write_static_site,
)
from publisher.store.database import open_store


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
            return write_static_site(output, pages.files(), previous, inputs)
