"""Typed access to the jobs table: background work and its progress."""

import json

from storage.db import decode_json_columns, now, transaction

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")


def _decode(row) -> dict | None:
    return decode_json_columns(row, 'args', 'stats')


def create_job(db, kind: str, args: dict, resumed_from: int | None = None) -> int:
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO jobs (kind, args, state, resumed_from, created_at) VALUES (?, ?, 'queued', ?, ?)",
            [kind, json.dumps(args, sort_keys=True), resumed_from, now()],
        )
        return cursor.lastrowid


def get_job(db, job_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return _decode(rows[0]) if rows else None


def list_jobs(db, kind: str | None = None, limit: int = 50) -> list[dict]:
    if kind:
        rows = db.query("SELECT * FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT ?", [kind, limit])
    else:
        rows = db.query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", [limit])
    return [_decode(row) for row in rows]


def active_jobs(db, kind: str | None = None) -> list[dict]:
    sql = "SELECT * FROM jobs WHERE state IN ('queued', 'running')"
    params = []
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    return [_decode(row) for row in db.query(sql + " ORDER BY id", params)]


def mark_started(db, job_id: int, pid: int, pid_start: str | None) -> None:
    with transaction(db):
        db.execute(
            "UPDATE jobs SET state = 'running', pid = ?, pid_start = ?, started_at = COALESCE(started_at, ?),"
            " heartbeat_at = ? WHERE id = ?",
            [pid, pid_start, now(), now(), job_id],
        )


def set_pid(db, job_id: int, pid: int, pid_start: str | None) -> None:
    with transaction(db):
        db.execute("UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?", [pid, pid_start, job_id])


def update_progress(db, job_id: int, done: int, total: int | None, message: str | None = None,
                    stats: dict | None = None) -> None:
    progress = (done / total) if total else 0.0
    with transaction(db):
        db.execute(
            "UPDATE jobs SET done = ?, total = ?, progress = ?, message = COALESCE(?, message),"
            " stats = COALESCE(?, stats), heartbeat_at = ? WHERE id = ?",
            [done, total, min(progress, 1.0), message, json.dumps(stats) if stats is not None else None,
             now(), job_id],
        )


def finish_job(db, job_id: int, state: str, error: str | None = None, stats: dict | None = None,
               message: str | None = None) -> None:
    if state not in FINAL_STATES:
        raise ValueError(f"not a final job state: {state}")
    with transaction(db):
        db.execute(
            "UPDATE jobs SET state = ?, error = ?, stats = COALESCE(?, stats), message = COALESCE(?, message),"
            " finished_at = ?, progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END WHERE id = ?",
            [state, error, json.dumps(stats) if stats is not None else None, message, now(), state, job_id],
        )


def request_cancel(db, job_id: int) -> None:
    with transaction(db):
        db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", [job_id])
        # A job that never started has nothing to stop.
        db.execute("UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'"
                   " AND pid IS NULL", [now(), job_id])


def cancel_requested(db, job_id: int) -> bool:
    row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id]).fetchone()
    return bool(row and row[0])
