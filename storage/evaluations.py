"""Typed access to the evaluations table: metrics of one model on one dataset split."""

import json

from storage.db import decode_json_columns, now, transaction


def _decode(row) -> dict | None:
    return decode_json_columns(row, 'metrics', 'per_query', 'details')


def insert_evaluation(db, *, model: str, dataset: str, split: str, metrics: dict, per_query: dict | None = None,
                      details: dict | None = None, job_id: int | None = None, run_id: int | None = None) -> int:
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO evaluations (job_id, run_id, model, dataset, split, metrics, per_query, details, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [job_id, run_id, model, dataset, split, json.dumps(metrics),
             json.dumps(per_query) if per_query is not None else None, json.dumps(details or {}), now()],
        )
        return cursor.lastrowid


def get_evaluation(db, evaluation_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM evaluations WHERE id = ?", [evaluation_id]))
    return _decode(rows[0]) if rows else None


def evaluation_for_job(db, job_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM evaluations WHERE job_id = ? ORDER BY id DESC LIMIT 1", [job_id]))
    return _decode(rows[0]) if rows else None


def list_evaluations(db, run_id: int | None = None, limit: int = 100) -> list[dict]:
    """Newest first, without the per-query detail (which can be large)."""
    columns = "id, job_id, run_id, model, dataset, split, metrics, details, created_at"
    if run_id is None:
        rows = db.query(f"SELECT {columns} FROM evaluations ORDER BY id DESC LIMIT ?", [limit])
    else:
        rows = db.query(f"SELECT {columns} FROM evaluations WHERE run_id = ? ORDER BY id DESC LIMIT ?",
                        [run_id, limit])
    return [_decode(row) for row in rows]


def evaluations_of(db, model: str, dataset: str, split: str) -> list[dict]:
    """Every evaluation of this model on this dataset split, newest first, without the per-query detail.

    The caller picks the one whose details (model files, corpus, instruction...) match what it needs."""
    rows = db.query("SELECT id, job_id, run_id, model, dataset, split, metrics, details, created_at FROM evaluations"
                    " WHERE model = ? AND dataset = ? AND split = ? ORDER BY id DESC", [model, dataset, split])
    return [_decode(row) for row in rows]
