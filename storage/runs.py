"""Typed access to training runs and their per-step metrics."""

import json

from storage.db import decode_json_columns, now, transaction

RUN_STATES = ("running", "done", "failed", "cancelled", "interrupted")


def _decode(row) -> dict | None:
    return decode_json_columns(row, 'config', 'data_counts', 'outcome')


def create_run(db, job_id: int | None, name: str, base_model: str, config: dict, out_dir: str,
               data_counts: dict) -> int:
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO runs (job_id, name, base_model, config, out_dir, state, data_counts, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
            [job_id, name, base_model, json.dumps(config), out_dir, json.dumps(data_counts), now()],
        )
        return cursor.lastrowid


def get_run(db, run_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    return _decode(rows[0]) if rows else None


def run_for_job(db, job_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM runs WHERE job_id = ? ORDER BY id DESC LIMIT 1", [job_id]))
    return _decode(rows[0]) if rows else None


def list_runs(db, limit: int = 50) -> list[dict]:
    return [_decode(row) for row in db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit])]


def attach_job(db, run_id: int, job_id: int) -> None:
    """A resumed run continues under a new job."""
    with transaction(db):
        db.execute("UPDATE runs SET job_id = ?, state = 'running', finished_at = NULL WHERE id = ?",
                   [job_id, run_id])


def update_config(db, run_id: int, config: dict) -> None:
    with transaction(db):
        db.execute("UPDATE runs SET config = ? WHERE id = ?", [json.dumps(config), run_id])


def finish_run(db, run_id: int, state: str) -> None:
    if state not in RUN_STATES or state == "running":
        raise ValueError(f"not a final run state: {state}")
    with transaction(db):
        db.execute("UPDATE runs SET state = ?, finished_at = ? WHERE id = ?", [state, now(), run_id])


def add_metric(db, run_id: int, step: int, loss: float, lr: float, examples_per_s: float,
               tokens_per_s: float) -> None:
    with transaction(db):
        # A resumed run re-records the steps after its checkpoint: the newest value wins.
        db.execute(
            "INSERT OR REPLACE INTO run_metrics (run_id, step, loss, lr, examples_per_s, tokens_per_s, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, step, loss, lr, examples_per_s, tokens_per_s, now()],
        )


def metrics(db, run_id: int) -> list[dict]:
    return [dict(row) for row in db.query(
        "SELECT step, loss, lr, examples_per_s, tokens_per_s, at FROM run_metrics WHERE run_id = ? ORDER BY step",
        [run_id])]


def add_heldout_point(db, run_id: int, step: int, ndcg_at_10: float) -> None:
    """The held-out nDCG@10 after `step` steps (0: the base model)."""
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO run_heldout_curve (run_id, step, ndcg_at_10, at) VALUES (?, ?, ?, ?)",
                   [run_id, step, ndcg_at_10, now()])


def heldout_curve(db, run_id: int) -> list[dict]:
    return [dict(row) for row in db.query(
        "SELECT step, ndcg_at_10 FROM run_heldout_curve WHERE run_id = ? ORDER BY step", [run_id])]


def set_outcome(db, run_id: int, outcome: dict) -> None:
    """What a finished run exported and how it compares with its base model (see studio.training.outcome)."""
    with transaction(db):
        db.execute("UPDATE runs SET outcome = ? WHERE id = ?", [json.dumps(outcome), run_id])


def trained_example_ids(db, run: dict) -> set[int]:
    """The examples a run trained on: its recorded `train_ids`, or for runs from before they were recorded,
    the accepted examples that existed when it started, in its families and languages, less its held-out ones
    (what the trainer read)."""
    config = run["config"] if isinstance(run["config"], dict) else json.loads(run["config"] or "{}")
    if config.get("train_ids") is not None:
        return {int(i) for i in config["train_ids"]}
    sql = "SELECT id FROM examples WHERE status = 'accepted' AND created_at <= ?"
    params: list = [run["created_at"]]
    for column, values in (("family", config.get("families")), ("language", config.get("languages"))):
        if values:
            sql += f" AND {column} IN ({', '.join('?' for _ in values)})"
            params.extend(values)
    own = {int(i) for i in config.get("heldout_ids") or []}
    return {row[0] for row in db.execute(sql, params).fetchall()} - own
