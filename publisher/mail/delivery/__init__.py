"""Delivery of one edition to its subscribers: the ledger (`ledger`, one row per recipient),
the pacing policy (`pacing`), and the runs that wire them to transports (`send`, `worker`).

May import `mail`, `store`, `audience` and the shared modules.
"""
