"""Transports: hand a finished message to an SMTP server (`smtp`) or a Maildir (`maildir`),
DKIM-signed (`dkim`), with a signed return path (`returnpath`). `protocol` says how a send can
end; `opening` picks the transport the config names. SMTP in parts: `handshake` opens a verified
session, `connection` reuses it, `session` runs one transaction, `failures` says what went
wrong, `credentials` keeps the password safe.

May import `mail.mime` and the shared modules; never `delivery`.
"""
