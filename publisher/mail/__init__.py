"""Email: editions frozen from the store (`editions`), rendered once (`render`, pure), built as
MIME (`mime`, pure), sent exactly once through the ledger (`delivery/`) and a transport
(`transport/`); confirmation and welcome mails, test sends and pre-flight checks.

May import `content`, `store`, `audience` and the shared modules; never `inbound` or above.
"""
