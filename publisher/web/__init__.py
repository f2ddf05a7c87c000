"""The subscription web app: sign-up with confirmation, unsubscribe, article pages and files.

`create_app(config, environ, clock)` builds the Starlette app; `serve(config, host, port)` runs
it under uvicorn. The modules: `site` (what every page needs), `subscription` (home page,
sign-up, confirm, unsubscribe), `confirmation` (the confirmation message), `articles` (article
and category pages), `files` (feeds, archive, media, conditional GET), `security` (form tokens,
client keys, headers), `ratelimit` (the sign-up limit, counted in the store), `navigation`
(the site's page URLs), `listings` (older home pages, every article, categories, tags),
`archive` (the archive's index and dressed editions), `crawlers` (sitemap.xml, robots.txt),
`icons` (favicon.ico), `conditional` (ETags of rendered pages), `app` (the app itself).
"""

from __future__ import annotations

from publisher.web.app import create_app, serve

__all__ = ["create_app", "serve"]
