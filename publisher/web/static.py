"""The static site, rendered directly by the web app's own page functions: the same pages
`serve` answers, with the site's URLs (never a local preview's), and no request, server or
crawl (`publisher.web.static_pages` lists them; `publisher.site.static` writes them)."""

from __future__ import annotations

from collections.abc import Mapping

from publisher.audience.tokens import load_secret
from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.site.static import (
    StaticReport,
    output_fingerprint,
    static_inputs_fingerprint,
    write_static_site,
)
from publisher.store.database import open_store, put_setting, setting
from publisher.web.site import WebSite
from publisher.web.static_pages import StaticPages

_STATIC_SETTING = "static_site_fingerprint"  # the inputs and the output files of the last build


def build_static_site(
    config: Config, environ: Mapping[str, str], clock: Clock = system_clock
) -> StaticReport:
    """Write every public page of the site under `[site] output` (`publisher build`).

    When nothing a page shows changed since the last static build (articles, profiles,
    editions, config, templates, media, catalogs) and the output is as that build left it,
    nothing is rendered: a site of thousands of pages costs a few reads and stats.
    """
    if config.site_dir is None:
        return StaticReport(None, written=0, unchanged=0, removed=0)
    with open_store(config.store_url) as store, store.read() as connection:
        inputs = static_inputs_fingerprint(connection, config)
        previous = setting(connection, _STATIC_SETTING)
    output = config.site_dir
    files, count = output_fingerprint(output)
    if inputs is not None and previous == f"{inputs} {files}":
        return StaticReport(output, written=0, unchanged=count, removed=0)
    secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)
    with open_store(config.store_url) as store:
        site = WebSite(config, store, secret, clock, environ)
        with store.read() as connection:
            report = write_static_site(output, StaticPages(site, connection).files())
        if inputs is not None:
            with store.transaction() as connection:
                fingerprint = output_fingerprint(output)[0]
                put_setting(connection, _STATIC_SETTING, f"{inputs} {fingerprint}")
    return report
