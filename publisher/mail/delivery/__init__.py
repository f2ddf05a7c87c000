"""Delivery of one edition to its subscribers: the ledger (`ledger`, one row per recipient),
the pacing policy (`pacing`), and the workers that wire them to transports (`send`).
"""
