"""Load the bundled demo tasks and examples into a database, labelled as demo data.

The demo set (examples.jsonl, tasks.jsonl beside this file) was written by hand for this
project so that a fresh studio, for instance a free CPU Space with no API key, has something in
every tab. Rows carry source='demo' so the user can tell them apart and remove them.
"""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from storage.db import now, open_db, transaction
from storage.examples import insert_examples
from storage.tasks import add_tasks, normalize_task
from studio.errors import StudioError

DEMO_DIR = Path(__file__).resolve().parent
EXAMPLES_FILE = DEMO_DIR / "examples.jsonl"
TASKS_FILE = DEMO_DIR / "tasks.jsonl"
COMPARISON_FILE = DEMO_DIR / "comparison.json"  # written by studio/demo/build_comparison.py
MODEL_BUNDLE = DEMO_DIR / "model"  # the demo run's LoRA adapter and small files, same script
DEMO_MODEL_FOLDER = "demo-minilm-lora"  # under <data dir>/runs/, where the demo run's model is rebuilt
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
SOURCE = "demo"


@dataclass
class DemoLoadResult:
    tasks_added: int
    examples_added: int
    examples_skipped: int  # already present (an earlier load, or the same text typed by a user)
    comparison_added: bool = False


def demo_available() -> bool:
    """Whether this build ships the demo files (a trimmed deployment may leave them out)."""
    return EXAMPLES_FILE.is_file() and TASKS_FILE.is_file()


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise StudioError(f"the demo file {path.name} is missing from this installation; reinstall the studio")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def demo_tasks() -> list[dict]:
    """Tasks as {family, text}."""
    return _read_jsonl(TASKS_FILE)


def demo_examples() -> list[dict]:
    """Examples as DESIGN.md's JSONL lines: query, positive, negative, instruction, family, language."""
    return _read_jsonl(EXAMPLES_FILE)


def database_is_empty(db_path) -> bool:
    """True when there is nothing to show yet: the moment to offer the demo."""
    db = open_db(db_path)
    try:
        has_examples = db.execute("SELECT 1 FROM examples LIMIT 1").fetchone()
        has_tasks = db.execute("SELECT 1 FROM tasks LIMIT 1").fetchone()
        return not has_examples and not has_tasks
    finally:
        db.conn.close()


def demo_loaded(db_path) -> bool:
    db = open_db(db_path)
    try:
        return db.execute("SELECT 1 FROM examples WHERE source = ? LIMIT 1", [SOURCE]).fetchone() is not None
    finally:
        db.conn.close()


def load_demo(db_path, status: str = "accepted", with_comparison: bool = True) -> DemoLoadResult:
    """Insert the demo tasks and examples, and the pre-computed comparison; loading again adds nothing.

    Examples arrive accepted by default: they were written and checked by hand, and accepted
    examples are what Train uses, so the demo can train straight away. Pass status="pending" to
    curate them first.
    """
    if status not in ("pending", "accepted"):
        raise StudioError("demo examples can be loaded as pending or accepted only")
    tasks, examples = demo_tasks(), demo_examples()
    # Rebuilding the model takes seconds, so it happens before the write transaction opens.
    model_dir = rebuild_demo_model(Path(db_path).parent / "runs" / DEMO_MODEL_FOLDER) if with_comparison else None
    db = open_db(db_path)
    try:
        with transaction(db):
            tasks_added = 0
            for family in dict.fromkeys(task["family"] for task in tasks):
                texts = [task["text"] for task in tasks if task["family"] == family]
                tasks_added += add_tasks(db, family, texts, source=SOURCE).inserted
            task_ids = {(row[0], row[1]): row[2]
                        for row in db.execute("SELECT family, norm, id FROM tasks").fetchall()}
            rows = []
            for example in examples:
                task_id = task_ids.get((example["family"], normalize_task(example["instruction"])))
                rows.append({**example, "task_id": task_id, "source": SOURCE, "status": status,
                             "model": "hand-written demo"})
            # Joins the transaction above, so tasks and examples land together or not at all.
            result = insert_examples(db, rows)
            comparison_added = with_comparison and _insert_comparison(db, model_dir)
        return DemoLoadResult(tasks_added, result.inserted, result.duplicates, comparison_added)
    finally:
        db.conn.close()


@dataclass
class DemoRows:
    """How many demo rows of each kind a database holds (or a removal took out)."""
    examples: int
    tasks: int
    runs: int

    def describe(self) -> str:
        def count(n: int, what: str) -> str:
            return f"{n} {what}" + ("" if n == 1 else "s")
        parts = [count(self.examples, "example"), count(self.tasks, "task")]
        if self.runs:
            parts.append(count(self.runs, "pre-computed training run") + " with its comparison")
        return ", ".join(parts)

    @property
    def any(self) -> bool:
        return bool(self.examples or self.tasks or self.runs)


_DEMO_RUNS = "SELECT id FROM runs WHERE json_extract(config, '$.source') = ?"


def demo_rows(db_path) -> DemoRows:
    """The demo rows in the database now: examples, tasks and the pre-computed run."""
    db = open_db(db_path)
    try:
        def count(sql: str) -> int:
            return db.execute(sql, [SOURCE]).fetchone()[0]
        return DemoRows(count("SELECT COUNT(*) FROM example_rows WHERE source = ?"),
                        count("SELECT COUNT(*) FROM tasks WHERE source = ?"),
                        count(f"SELECT COUNT(*) FROM ({_DEMO_RUNS})"))
    finally:
        db.conn.close()


def remove_demo(db_path) -> DemoRows:
    """Delete every demo row: the demo examples (with their history), the demo tasks that no
    other example was generated from, and the pre-computed run with its metrics and evaluations.
    The user's own rows stay. Returns what was removed; load_demo brings it all back."""
    db = open_db(db_path)
    try:
        with transaction(db):
            runs = [row[0] for row in db.execute(_DEMO_RUNS, [SOURCE]).fetchall()]
            for table in ("evaluations", "run_metrics", "run_heldout_curve"):
                db.execute(f"DELETE FROM {table} WHERE run_id IN ({_DEMO_RUNS})", [SOURCE])
            db.execute(f"DELETE FROM runs WHERE id IN ({_DEMO_RUNS})", [SOURCE])
            ids = "SELECT id FROM example_rows WHERE source = ?"
            db.execute(f"DELETE FROM example_history WHERE example_id IN ({ids})", [SOURCE])
            db.execute(f"DELETE FROM example_texts WHERE id IN ({ids})", [SOURCE])
            examples = db.execute("DELETE FROM example_rows WHERE source = ?", [SOURCE]).rowcount
            tasks = db.execute("DELETE FROM tasks WHERE source = ? AND id NOT IN"
                               " (SELECT task_id FROM example_rows WHERE task_id IS NOT NULL)", [SOURCE]).rowcount
        return DemoRows(examples, tasks, len(runs))
    finally:
        db.conn.close()


def rebuild_demo_model(folder: Path) -> Path | None:
    """The demo run's fine-tuned model: the bundled minilm with the bundled LoRA adapter merged in,
    saved as a sentence-transformers folder. None when this build ships no adapter."""
    adapter = MODEL_BUNDLE / "lora_adapter"
    if not (adapter / "adapter_model.safetensors").is_file():
        return None
    if (folder / "model.safetensors").is_file():
        return folder
    from peft import PeftModel
    from transformers import AutoModel

    from studio.model_registry import minilm_dir

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(MODEL_BUNDLE, partial)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir() / name, partial / name)
    merged = PeftModel.from_pretrained(AutoModel.from_pretrained(minilm_dir()), str(adapter)).merge_and_unload()
    merged.save_pretrained(partial)
    os.replace(partial, folder)  # a folder that exists is complete
    return folder


def _insert_comparison(db, model_dir: Path | None) -> bool:
    """Replay comparison.json as a finished run with its loss curve and two held-out evaluations.

    The file names examples by content hash; they are mapped to this database's ids here, in the
    held-out order the evaluation used, so the held-out set rebuilds exactly (same document ids).
    With the rebuilt model the run points at it, and each evaluation carries the key of its model's
    files, so the Compare tab reuses them instead of recomputing. Returns False when there is no
    file, the demo run is already present, or a held-out example is missing (edited or deleted),
    since the stored rankings would then point at nothing.
    """
    if not COMPARISON_FILE.is_file():
        return False
    if db.execute("SELECT 1 FROM runs WHERE json_extract(config, '$.source') = ? LIMIT 1", [SOURCE]).fetchone():
        return False
    data = json.loads(COMPARISON_FILE.read_text(encoding="utf-8"))
    ids = {row[0]: row[1] for row in db.execute("SELECT content_hash, id FROM examples").fetchall()}
    if any(digest not in ids for digest in data["heldout"]):
        return False
    run = data["run"]
    config = {**run["config"], "heldout_ids": [ids[digest] for digest in data["heldout"]],
              "train_ids": [ids[digest] for digest in data.get("train", []) if digest in ids], "source": SOURCE}
    cursor = db.execute(
        "INSERT INTO runs (job_id, name, base_model, config, out_dir, state, data_counts, created_at, finished_at,"
        " outcome) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run["name"], run["base_model"], json.dumps(config), str(model_dir) if model_dir else None, run["state"],
         json.dumps(run["data_counts"]), run["created_at"], run["finished_at"], json.dumps(data.get("outcome", {}))],
    )
    run_id = cursor.lastrowid
    stamp = now()
    db.conn.executemany("INSERT INTO run_heldout_curve (run_id, step, ndcg_at_10, at) VALUES (?, ?, ?, ?)",
                        [(run_id, p["step"], p["ndcg_at_10"], stamp) for p in data.get("heldout_curve", [])])
    db.conn.executemany(
        "INSERT INTO run_metrics (run_id, step, loss, lr, examples_per_s, tokens_per_s, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(run_id, m["step"], m["loss"], m["lr"], m["examples_per_s"], m["tokens_per_s"], stamp)
         for m in data["metrics"]],
    )
    for evaluation in data["evaluations"]:
        per_query = {str(ids[digest]): result for digest, result in evaluation["per_query"].items()}
        details = {**evaluation["details"], "source": SOURCE, "role": evaluation["role"]}
        model = evaluation["model"]
        if evaluation["role"] == "fine-tuned" and model_dir:
            model = str(model_dir)
        if model_dir:
            from studio.evaluation.embedding_cache import model_key

            details["model_key"] = model_key(model)
        db.execute(
            "INSERT INTO evaluations (job_id, run_id, model, dataset, split, metrics, per_query, details, created_at)"
            " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, model, f"heldout:run-{run_id}", evaluation["split"],
             json.dumps(evaluation["metrics"]), json.dumps(per_query), json.dumps(details), stamp],
        )
    return True
