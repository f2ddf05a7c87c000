"""The readers: subscribers and their statuses, preferences, forgetting, and the signed tokens
and links that let each reader act on their own subscription.

May import `content`, `store` and the shared modules; never `mail`, `inbound`, `web`.
"""
