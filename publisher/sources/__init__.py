"""Upstream feeds: fetch them politely (`fetch`), parse them into items (`parse`, pure), poll the
due ones into the store (`poll`), and trade subscription lists as OPML (`opml`).

May import `content`, `store` and the shared modules.
"""
