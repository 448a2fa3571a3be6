"""What the Compare tab offers: the models and datasets to choose from, the pair it proposes after a
run finishes, why the dataset list is empty, and whether a dataset overlaps a model's training data."""

import json
from dataclasses import dataclass
from pathlib import Path

from storage import runs as run_rows
from studio.evaluation.corpus_set import describe_corpus_sets
from studio.evaluation.settings import HELDOUT_PREFIX, heldout_run_of

BASE_MODELS = ("minilm", "smollm2")


def model_choices(db) -> list[tuple[str, str]]:
    """(label, value): the offline base models, then each finished run's output folder, newest first."""
    choices = [(f"{name} (base)", name) for name in BASE_MODELS]
    for row in finished_runs(db):
        choices.append((f"run {row['id']} · {row['name']} (from {row['base_model']})", row["out_dir"]))
    return choices


def finished_runs(db) -> list[dict]:
    """Finished runs whose model folder exists, newest first."""
    return [dict(row) for row in db.query(
        "SELECT id, name, base_model, out_dir, config, created_at FROM runs"
        " WHERE state = 'done' AND out_dir IS NOT NULL ORDER BY id DESC") if Path(row["out_dir"]).exists()]


def run_of_model(db, model: str | None) -> dict | None:
    """The run whose output folder `model` is, if any."""
    if not model:
        return None
    try:
        target = Path(model).expanduser().resolve()
    except OSError:
        return None
    for row in db.query("SELECT id, name, config, created_at, out_dir FROM runs WHERE out_dir IS NOT NULL"
                        " ORDER BY id DESC"):
        if Path(row["out_dir"]).expanduser().resolve() == target:
            return {**dict(row), "config": json.loads(row["config"] or "{}")}
    return None


def heldout_ids_of(db, run_id: int) -> list[int]:
    rows = list(db.query("SELECT config FROM runs WHERE id = ?", [run_id]))
    return [int(i) for i in json.loads(rows[0]["config"] or "{}").get("heldout_ids") or []] if rows else []


def training_overlap(db, model: str | None, spec: str | None) -> int:
    """How many queries of a run's held-out set (`spec`) were training examples of the run that made
    `model`; 0 for base models and BEIR folders.

    A run that records its training ids (`config["train_ids"]`) is checked exactly; otherwise its
    training data is taken as the accepted examples that existed when it started, in its families and
    languages, less its own held-out ones (what the trainer reads)."""
    run = run_of_model(db, model)
    dataset_run = heldout_run_of(spec) if spec else None
    if run is None or dataset_run is None or dataset_run == run["id"]:
        return 0
    queries = set(heldout_ids_of(db, dataset_run))
    if not queries:
        return 0
    return len(queries & run_rows.trained_example_ids(db, run))


def dataset_choices(db, model_b: str | None = None) -> list[tuple[str, str]]:
    """(label, value): the held-out sets of runs, then each corpus's queries held out of every run, then
    BEIR datasets evaluated before. A held-out set that overlaps model B's training data says so in its label."""
    choices = []
    for row in db.query("SELECT id, name, config FROM runs ORDER BY id DESC"):
        held = json.loads(row["config"] or "{}").get("heldout_ids") or []
        if held:
            spec = f"{HELDOUT_PREFIX}{row['id']}"
            corpus_names = _grounded_in(db, held)
            if corpus_names:
                label = (f"held-out queries of corpus {', '.join(corpus_names)} · run {row['id']} · {row['name']} "
                         f"({len(held)} queries, searched among the whole corpus)")
            else:
                label = f"held-out set of run {row['id']} · {row['name']} ({len(held)} examples)"
            overlap = training_overlap(db, model_b, spec)
            if overlap:
                label += f" — ⚠ {overlap} of them trained model B"
            choices.append((label, spec))
    if "corpora" in db.table_names():
        choices.extend(describe_corpus_sets(db))
    for row in db.query("SELECT DISTINCT dataset FROM evaluations WHERE dataset NOT LIKE 'heldout:%'"
                        " AND dataset NOT LIKE 'corpus:%' ORDER BY id DESC"):
        if Path(row["dataset"]).exists():
            choices.append((row["dataset"], row["dataset"]))
    return choices


def _grounded_in(db, example_ids) -> list[str]:
    """Names of the corpora these examples' positives are passages of."""
    if "corpora" not in db.table_names():
        return []
    return [row[0] for row in db.execute(
        "SELECT DISTINCT c.name FROM example_passages ep JOIN corpora c ON c.id = ep.corpus_id"
        " WHERE ep.passage_id IS NOT NULL AND ep.example_id IN (SELECT value FROM json_each(?)) ORDER BY c.name",
        [json.dumps(list(example_ids))]).fetchall()]


def empty_datasets_note(db) -> str | None:
    """Why the dataset list is empty and what to use instead (Markdown), or None when it is not empty."""
    if dataset_choices(db):
        return None
    runs = list(db.query("SELECT id, state, config FROM runs ORDER BY id DESC"))
    if not runs:
        why = "No training run has finished yet, so there is no held-out set to choose."
    else:
        latest = runs[0]
        train = json.loads(latest["config"] or "{}")
        why = (f"Run {latest['id']} held out 0 examples (held-out share {train.get('heldout_share', 0)}): "
               "with few accepted examples the share rounds to none. Raise the held-out share in the Train "
               "tab or accept more examples, and train again." if latest["state"] == "done" else
               f"Run {latest['id']} has not finished ({latest['state']}); its held-out set appears here when it does.")
    corpora = _corpus_names(db)
    corpus_line = (f"\n- the queries of a corpus ({', '.join(corpora)}): generate queries for it in the Generate "
                   "tab and accept them; those whose document no run trained on appear here as "
                   "`corpus:NAME`" if corpora else "")
    return (f"**The dataset list is empty.** {why}\n\nYou can still compare on:\n"
            "- **a BEIR folder** on the server: type its path in *Dataset* (`corpus.jsonl`, `queries.jsonl`, "
            "`qrels/<split>.tsv`)\n"
            "- **a BEIR zip**: upload it beside the list\n"
            "- **the held-out set of another run**: type `heldout:run-N`" + corpus_line)


def _corpus_names(db) -> list[str]:
    """Names of the user's corpora, where this build has them (the corpus table arrives with grounded generation)."""
    if "corpora" not in db.table_names():
        return []
    return [row[0] for row in db.execute("SELECT name FROM corpora ORDER BY name LIMIT 5").fetchall()]


@dataclass
class Lists:
    """What the tab's three dropdowns show and hold."""
    models: list[tuple[str, str]]
    datasets: list[tuple[str, str]]
    model_a: str | None
    model_b: str | None
    dataset: str | None
    newest_run: int | None                 # the newest finished run when these lists were made
    empty_note: str | None = None


def lists(db, model_a: str | None, model_b: str | None, dataset: str | None, seen_run: int | None) -> Lists:
    """Fresh choices. A run that finished since `seen_run` (the newest the tab knew) becomes model B
    with its own held-out set, so the newest result is compared on data it did not train on."""
    runs = finished_runs(db)
    newest = runs[0] if runs else None
    model_a = model_a or BASE_MODELS[0]
    if newest and (seen_run is None or newest["id"] > seen_run or not model_b):
        model_b = newest["out_dir"]
        if json.loads(newest["config"] or "{}").get("heldout_ids"):
            dataset = f"{HELDOUT_PREFIX}{newest['id']}"
    datasets = dataset_choices(db, model_b)
    if not dataset and datasets:
        dataset = datasets[0][1]
    return Lists(model_choices(db), datasets, model_a, model_b, dataset, newest["id"] if newest else None,
                 empty_datasets_note(db) if not datasets else None)


__all__ = ["BASE_MODELS", "Lists", "dataset_choices", "empty_datasets_note", "finished_runs", "lists",
           "model_choices", "run_of_model", "training_overlap"]
