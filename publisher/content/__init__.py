"""The pure core of what writers write: articles, author profiles, Markdown, related articles.

Values in, values out: no store, no network, no clock. May import only the shared modules
(`config`, `errors`, `urls`, `wording`).
"""
