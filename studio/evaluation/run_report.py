"""A run's evaluation entries as a person reads them: which model (the base model or this run), on
which dataset and split, with which query instruction, and what the run changed against its base."""

from pathlib import Path

from storage import evaluations as evaluation_rows
from studio.evaluation import instructions
from studio.evaluation.compare import METRIC_LABELS
from studio.evaluation.heldout import run_row
from studio.evaluation.settings import heldout_run_of

BASE, THIS_RUN = "base model", "this run"


def _role(row: dict, run: dict) -> str:
    role = row["details"].get("role")
    if role in ("base", "fine-tuned"):
        return BASE if role == "base" else THIS_RUN
    if run.get("out_dir") and _same_path(row["model"], run["out_dir"]):
        return THIS_RUN
    return BASE if row["model"] == run.get("base_model") else "other model"


def _same_path(a: str, b: str) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return a == b


def _dataset(row: dict) -> str:
    run_id = heldout_run_of(row["dataset"]) if row["dataset"].startswith("heldout:") else None
    queries = row["details"].get("n_queries")
    size = f" ({queries} queries)" if queries else ""
    return f"held-out set of run {run_id}{size}" if run_id is not None else f"{row['dataset']}{size}"


def _instruction(row: dict) -> str:
    source, text = instructions.of_details(row["details"])
    if source == instructions.PER_QUERY:
        return "each query's own task instruction"
    return text or source


def run_results(db, run_id: int) -> list[dict]:
    """One labelled entry per evaluation of the run, oldest first; the run's own entries carry the change
    against the base model on the same dataset and split (B − A, as in Compare); nDCG@10 and its change
    stand at the entry's top, where they show without unfolding anything."""
    run = run_row(db, run_id)
    rows = list(reversed(evaluation_rows.list_evaluations(db, run_id=run_id)))
    base_of = {(row["dataset"], row["split"]): row["metrics"] for row in rows if _role(row, run) == BASE}
    entries = []
    for row in rows:
        role = _role(row, run)
        label = f"base model ({row['model']})" if role == BASE else role
        entry = {"model": label, "dataset": _dataset(row), "split": row["split"], "instruction": _instruction(row),
                 "nDCG@10": round(row["metrics"].get("ndcg_at_10", 0.0), 4),
                 "metrics": {METRIC_LABELS[k]: round(v, 4) for k, v in row["metrics"].items() if k in METRIC_LABELS}}
        base = base_of.get((row["dataset"], row["split"]))
        if role == THIS_RUN and base:
            entry["change vs base model"] = {METRIC_LABELS[k]: round(v - base[k], 4)
                                             for k, v in row["metrics"].items() if k in METRIC_LABELS and k in base}
            entry["nDCG@10 change vs base model"] = entry["change vs base model"]["nDCG@10"]
        entry["when (UTC)"] = row["created_at"][:19].replace("T", " ")
        entries.append(entry)
    return entries


__all__ = ["BASE", "THIS_RUN", "run_results"]
