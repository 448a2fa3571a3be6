import sqlite3
import threading
import types

import pytest

import storage.db as db_module
from storage.db import apply_migrations, open_db, schema_version, transaction
from storage.examples import create_examples_view, insert_examples


def test_new_database_uses_wal_and_a_busy_timeout(db_path):
    db = open_db(db_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert {"template_versions", "tasks", "example_rows", "example_texts", "jobs", "runs", "run_metrics",
            "evaluations"} <= set(db.table_names())
    assert "examples" in db.view_names()  # the narrow rows and their texts, as one (see migration 23)


def test_older_schema_upgrades_without_losing_rows(db_path, monkeypatch):
    # A database made when only migration 1 existed, with data in it.
    old = open_db(db_path, migrate=False)
    first = [m for m in db_module.available_migrations() if m[0] == 1]
    monkeypatch.setattr(db_module, "available_migrations", lambda: first)
    apply_migrations(old)
    insert_examples(old, [{"family": "sts", "language": "German", "query": "Ein Satz.", "positive": "Ein Satzchen.",
                           "negative": "Etwas anderes.", "instruction": "Retrieve semantically similar text."}])
    old.conn.close()
    monkeypatch.undo()

    # A later release adds a migration; opening the old file applies it once and keeps the data.
    # (Since migration 23 a new example column goes into example_rows, and the view is rebuilt.)
    def add_column(db):
        db.execute("ALTER TABLE example_rows ADD COLUMN reviewer TEXT DEFAULT 'nobody'")
        create_examples_view(db)

    later = types.SimpleNamespace(apply=add_column)
    real = db_module.available_migrations()
    monkeypatch.setattr(db_module, "available_migrations", lambda: real + [(9999, "m9999_reviewer", later)])
    db = open_db(db_path)
    assert schema_version(db) == 9999
    row = db.execute("SELECT query, language, reviewer FROM examples").fetchone()
    assert row == ("Ein Satz.", "German", "nobody")
    assert apply_migrations(open_db(db_path)) == []  # nothing runs twice


def test_failed_migration_rolls_back_and_is_not_recorded(db_path, monkeypatch):
    open_db(db_path)

    def broken(db):
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    real = db_module.available_migrations()
    monkeypatch.setattr(db_module, "available_migrations",
                        lambda: real + [(9998, "m9998_broken", types.SimpleNamespace(apply=broken))])
    with pytest.raises(RuntimeError):
        open_db(db_path)
    db = open_db(db_path, migrate=False)
    assert "half_done" not in db.table_names()
    assert schema_version(db) < 9998


def test_transaction_rolls_back_every_row_on_error(db_path):
    db = open_db(db_path)
    with pytest.raises(ValueError):
        with transaction(db):
            db.execute("INSERT INTO jobs (kind, created_at) VALUES ('x', 'now')")
            raise ValueError("stop")
    assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_concurrent_writers_never_see_database_is_locked(db_path):
    open_db(db_path)
    errors = []

    def writer(worker):
        db = open_db(db_path)
        try:
            for i in range(40):
                insert_examples(db, [{"family": "sts", "query": f"q{worker}-{i}", "positive": "p", "negative": None}])
        except sqlite3.OperationalError as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert open_db(db_path).execute("SELECT COUNT(*) FROM examples").fetchone()[0] == 160


def test_json_columns_decode_to_dicts_and_missing_rows_stay_missing():
    from storage.db import decode_json_columns

    row = {"id": 1, "args": '{"family": "sts"}', "stats": None, "note": '{"left": "as text"}'}
    assert decode_json_columns(row, "args", "stats") == {"id": 1, "args": {"family": "sts"}, "stats": {},
                                                          "note": '{"left": "as text"}'}
    assert decode_json_columns(None, "args") is None


def test_the_status_check_becomes_comparisons_and_refuses_what_it_refused(db_path, monkeypatch):
    # A store from before migration 41, with rows; then the upgrade, which edits the table's
    # definition in place (no rows are copied).
    old = open_db(db_path, migrate=False)
    before = [m for m in db_module.available_migrations() if m[0] < 41]
    monkeypatch.setattr(db_module, "available_migrations", lambda: before)
    apply_migrations(old)
    insert_examples(old, [{"family": "sts", "query": "q", "positive": "p", "status": "accepted"}])
    old_sql = old.execute("SELECT sql FROM sqlite_master WHERE name = 'example_rows'").fetchone()[0]
    assert "status IN ('pending', 'accepted', 'rejected')" in old_sql
    monkeypatch.undo()

    db = open_db(db_path)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'example_rows'").fetchone()[0]
    assert "status = 'pending' OR status = 'accepted' OR status = 'rejected'" in sql
    assert sql.replace("status = 'pending' OR status = 'accepted' OR status = 'rejected'",
                       "status IN ('pending', 'accepted', 'rejected')") == old_sql
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT status FROM examples").fetchall() == [("accepted",)]
    for statement in ("UPDATE example_rows SET status = 'maybe'",
                      "INSERT INTO example_rows (id, family, status, norm_key, created_at, updated_at)"
                      " VALUES (99, 'sts', 'Pending', 1, 'now', 'now')"):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            db.execute(statement)
    for fresh in (db, open_db(db_path)):  # the connection that migrated, and a new one
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            fresh.execute("UPDATE example_rows SET status = 'Accepted'")
    insert_examples(db, [{"family": "sts", "query": "q2", "positive": "p2", "status": "rejected"}])
    assert [row[0] for row in db.execute("SELECT status FROM examples ORDER BY id")] == ["accepted", "rejected"]
