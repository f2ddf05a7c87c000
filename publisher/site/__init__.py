"""The site's publishing pipeline: gather content and sources into the store (`gather`,
`profiles`), then build the feeds (`feeds` is pure, `build` writes), the sitemap, WebSub pings,
and `publisher init`'s new sites (`newsite`, from `skeleton/`).

May import `content`, `sources`, `store` and the shared modules; never `mail` or above.
"""
