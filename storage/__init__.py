"""The SQLite store: the single source of truth shared by the UI and the background jobs.

Open it with storage.db.open_db. (This package imports nothing itself: the hashing helper process
imports storage.dedup_keys alone.)"""
