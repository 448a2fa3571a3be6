"""Examples waiting for the search index, and the background thread that indexes them.

A large insert (an import of 100k examples) commits its rows at once and records their id range
here instead of tokenising 130 MB of text inside its transaction. Rows in the backlog are stored,
deduplicated and visible in every filter; only full-text search does not find them yet, and the
Curate tab says so ("indexing N examples for search…"). The indexer works in steps of CHUNK rows,
each its own short transaction, so other writers wait at most a fraction of a second.

The search triggers of migration 23 leave backlog rows alone (an edit or delete of a row that is
not indexed yet must not touch the index); the indexer reads each row's text as it is when it
gets there.
"""

import sqlite3
import sys
import threading

from storage import search_text
from storage.db import now, open_db, transaction

CHUNK = 5_000

_lock = threading.Lock()
_threads: dict[str, threading.Thread] = {}
_errors: dict[str, str] = {}


def add(db, first_id: int, last_id: int) -> None:
    db.execute("INSERT INTO search_backlog (first_id, last_id, added_at) VALUES (?, ?, ?)",
               [first_id, last_id, now()])


def waiting(db) -> int:
    """How many examples search does not cover yet."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_backlog'").fetchone() is None:
        return 0
    return db.execute("SELECT COUNT(*) FROM search_backlog b JOIN example_rows r"
                      " ON r.id BETWEEN b.first_id AND b.last_id").fetchone()[0]


def index_some(db, limit: int = CHUNK) -> int:
    """Index up to `limit` ids from the front of the backlog, in one transaction; returns how many
    ids are left in the backlog (including ids of rows deleted meanwhile)."""
    with transaction(db):
        front = db.execute("SELECT rowid, first_id, last_id FROM search_backlog ORDER BY first_id LIMIT 1").fetchone()
        if front is None:
            return 0
        key, first, last = front
        upto = min(last, first + limit - 1)
        db.execute(search_text.INDEX_RANGE, [first, upto])
        if upto == last:
            db.execute("DELETE FROM search_backlog WHERE rowid = ?", [key])
        else:
            db.execute("UPDATE search_backlog SET first_id = ? WHERE rowid = ?", [upto + 1, key])
        return db.execute("SELECT COALESCE(SUM(last_id - first_id + 1), 0) FROM search_backlog").fetchone()[0]


def catch_up(db) -> None:
    """Index the whole backlog now (tests, the CLI, and the background thread)."""
    while index_some(db):
        pass


def _path_of(db_or_path) -> str:
    """The store's file path, given the path itself or an open database."""
    return db_or_path if isinstance(db_or_path, str) else db_or_path.execute("PRAGMA database_list").fetchone()[2]


def _drain(path: str) -> None:
    db = None
    try:
        db = open_db(path, migrate=False)
        catch_up(db)
        _errors.pop(path, None)
    except (sqlite3.Error, OSError) as error:
        # The backlog stays; the next insert or the Curate tab starts another indexer.
        _errors[path] = str(error)
        print(f"search indexing of {path} stopped: {error}", file=sys.stderr)
    finally:
        if db is not None:
            db.conn.close()


def start_indexer(db_or_path) -> threading.Thread:
    """Start (once per store and process) the thread that indexes the backlog. It is not a daemon:
    a command-line import waits for it before the process ends, so its rows are searchable."""
    path = _path_of(db_or_path)
    with _lock:
        thread = _threads.get(path)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_drain, args=(path,), name="search-indexer", daemon=False)
            _threads[path] = thread
            thread.start()
        return thread


def wait(db_or_path, timeout: float | None = None) -> bool:
    """Block until this process's indexer for the store has finished; True when it has."""
    path = _path_of(db_or_path)
    thread = _threads.get(path)
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True


def last_error(db_or_path) -> str | None:
    path = _path_of(db_or_path)
    return _errors.get(path)
