"""The store: SQLAlchemy Core over SQLite or PostgreSQL, its tables (`schema`), its statuses, the
queries grouped by table family, the daemon's locks, and the Alembic `migrations/`.

May import `content` (the values it stores) and the shared modules; nothing above it.
"""
