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


def latest_evaluation(db, model: str, dataset: str, split: str, model_key: str | None = None,
                      corpus: str | None = None) -> dict | None:
    """The newest evaluation of this model on this dataset split (matching the model's files and
    the corpus content when given), or None."""
    rows = db.query("SELECT * FROM evaluations WHERE model = ? AND dataset = ? AND split = ? ORDER BY id DESC",
                    [model, dataset, split])
    for row in rows:
        found = _decode(row)
        if model_key and found["details"].get("model_key") != model_key:
            continue
        if corpus and found["details"].get("corpus") != corpus:
            continue
        return found
    return None
