"""Opening the database: WAL, busy timeout, forward-only migrations, explicit transactions."""

import importlib
import json
import pkgutil
import re
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

import storage.migrations
from storage import search_text

BUSY_TIMEOUT_MS = 30_000
# A store of a million examples is a few GB. SQLite's default 2 MB page cache made a 100k-example
# insert spill and re-read index pages thousands of times; the cache grows only as a connection
# dirties pages, so a connection that only reads stays small. Reads go through a memory map instead
# (the OS page cache, shared by every connection), up to SQLite's own 2 GB ceiling.
CACHE_KIB = 256 * 1024
MMAP_BYTES = 2 * 1024 ** 3
_MIGRATION_NAME = re.compile(r"^m(\d{4})_\w+$")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def open_db(path, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the studio database, upgraded to the newest schema.

    The engine decides where the file lives (studio.config.default_db_path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # Under WAL, NORMAL loses no committed transaction when the app crashes (only on power loss).
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    conn.execute("PRAGMA foreign_keys = ON")
    search_text.register(conn)  # the search triggers and the index's content view call it
    db = sqlite_utils.Database(conn)
    if migrate:
        apply_migrations(db)
    return db


@contextmanager
def transaction(db: sqlite_utils.Database):
    """One write transaction (BEGIN IMMEDIATE); joins an outer one if already inside it."""
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def available_migrations() -> list[tuple[int, str, object]]:
    found = []
    for info in pkgutil.iter_modules(storage.migrations.__path__):
        match = _MIGRATION_NAME.match(info.name)
        if match:
            module = importlib.import_module(f"storage.migrations.{info.name}")
            found.append((int(match.group(1)), info.name, module))
    return sorted(found, key=lambda item: item[0])


def applied_versions(db: sqlite_utils.Database) -> set[int]:
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    return {row[0] for row in db.execute("SELECT version FROM schema_migrations").fetchall()}


def apply_migrations(db: sqlite_utils.Database, until: int | None = None) -> list[int]:
    """Apply, in numeric order, every migration not yet recorded (up to `until`); each in its own transaction."""
    done = applied_versions(db)
    newly = []
    for version, name, module in available_migrations():
        if version in done or (until is not None and version > until):
            continue
        with transaction(db):
            # Another process may have migrated between our read and our lock.
            if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [version]).fetchone():
                continue
            module.apply(db)
            db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                       [version, name, now()])
        newly.append(version)
    return newly


def schema_version(db: sqlite_utils.Database) -> int:
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return row[0] or 0


def decode_json_columns(row, *columns: str) -> dict | None:
    """A row as a dict with its JSON text columns parsed (empty or NULL → {}); None stays None."""
    if row is None:
        return None
    row = dict(row)
    for column in columns:
        row[column] = json.loads(row.get(column) or "{}")
    return row
