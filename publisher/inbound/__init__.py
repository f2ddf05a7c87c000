"""Inbound mail and ESP webhooks: bounces, complaints and unsubscribes, applied to subscribers.

`events` is the event type mail and webhooks share; `classify` (core) turns one message's bytes
into events; `providers` (core) turns a verified webhook payload into events; `apply` (shell)
records events and changes subscribers; `readers` and `imap` (shell) fetch messages.
May import `store`, `audience`, `mail` and the shared modules; never `web`, `daemon`, `cli`.
"""
