"""What an operator reads, shaped once for the dashboard, the API and the CLI: the overview
(growth, rates, failing sources, editions in progress) and lists of articles and sources.

May import every package up to `status`; never `web`, `daemon` or `cli`.
"""
