"""The SQLite store: the single source of truth shared by the UI and the background jobs."""

from storage.db import open_db, transaction

__all__ = ["open_db", "transaction"]
