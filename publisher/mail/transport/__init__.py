"""Transports: hand a finished message to an SMTP server (`smtp`, over one `session` at a time)
or a Maildir (`maildir`), DKIM-signed (`dkim`), with a signed return path (`returnpath`).
`protocol` says how a send can end; `opening` picks the transport the config names.
"""
