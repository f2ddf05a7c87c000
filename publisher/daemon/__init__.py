"""`publisher run`: the scheduler that gathers, builds, makes digests, sends and reads inbound
mail on schedule, one active daemon per store.

May import everything but `web` and `cli`.
"""
