"""What the Compare tab shows, computed without any UI: two models on one dataset.

Model A is the reference (usually the base model), model B the challenger (usually a fine-tuned
run); every delta is B − A.
"""

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage import evaluations as evaluation_rows
from studio.errors import StudioError
from studio.evaluation import embedding_cache
from studio.evaluation.beir import RetrievalDataset
from studio.evaluation.metrics import METRIC_NAMES
from studio.evaluation.runner import dataset_label, load_dataset, loaded_model, trained_with_instructions
from studio.evaluation.search import top_k

BASE_MODELS = ("minilm", "smollm2")
METRIC_LABELS = {"ndcg_at_10": "nDCG@10", "mrr_at_10": "MRR@10", "recall_at_1": "Recall@1",
                 "recall_at_5": "Recall@5", "recall_at_10": "Recall@10", "recall_at_100": "Recall@100",
                 "map_at_100": "MAP@100"}


def model_choices(db) -> list[tuple[str, str]]:
    """(label, value): the offline base models, then each finished run's output folder, newest first."""
    choices = [(f"{name} (base)", name) for name in BASE_MODELS]
    for row in db.query("SELECT id, name, base_model, out_dir FROM runs WHERE state = 'done' AND out_dir IS NOT NULL"
                        " ORDER BY id DESC"):
        if Path(row["out_dir"]).exists():
            choices.append((f"run {row['id']} · {row['name']} (from {row['base_model']})", row["out_dir"]))
    return choices


def dataset_choices(db) -> list[tuple[str, str]]:
    """(label, value): the held-out sets of runs, then BEIR datasets evaluated before."""
    choices = []
    for row in db.query("SELECT id, name, config FROM runs ORDER BY id DESC"):
        held = json.loads(row["config"] or "{}").get("heldout_ids") or []
        if held:
            choices.append((f"held-out set of run {row['id']} · {row['name']} ({len(held)} examples)",
                            f"heldout:run-{row['id']}"))
    for row in db.query("SELECT DISTINCT dataset FROM evaluations WHERE dataset NOT LIKE 'heldout:%' ORDER BY id DESC"):
        if Path(row["dataset"]).exists():
            choices.append((row["dataset"], row["dataset"]))
    return choices


_datasets: dict[tuple, RetrievalDataset] = {}


def cached_dataset(db, spec: str, split: str) -> RetrievalDataset:
    """Load a dataset once per UI process; a BEIR folder is reloaded when its files change."""
    stamp = None
    if not spec.startswith("heldout:"):
        source = Path(spec).expanduser()
        stamp = tuple(p.stat().st_mtime_ns for p in [source, *source.glob("*.jsonl"), *source.glob("qrels/*.tsv")]
                      if p.exists())
    else:
        split = "heldout"
        stamp = tuple(db.execute("SELECT COUNT(*), MAX(updated_at) FROM examples").fetchone())
    key = (spec, split, stamp)
    if key not in _datasets:
        if len(_datasets) >= 4:
            _datasets.pop(next(iter(_datasets)))
        _datasets[key] = load_dataset(db, spec, split)
    return _datasets[key]


@dataclass
class Side:
    """One model's standing on a dataset: its stored evaluation, or the job computing it."""
    model: str
    evaluation: dict | None
    job_id: int | None


def find_evaluation(db, model: str, dataset: RetrievalDataset, spec: str) -> dict | None:
    """A stored evaluation of this very model (same files) on this very corpus, if there is one."""
    return evaluation_rows.latest_evaluation(db, model, dataset_label(spec), dataset.split,
                                             model_key=embedding_cache.model_key(model), corpus=dataset.fingerprint)


def prepare_side(db, db_path, model: str, dataset: RetrievalDataset, spec: str, split: str) -> Side:
    """Reuse a stored evaluation, or start a background job to make one."""
    from studio.evaluation.runner import launch_evaluation

    found = find_evaluation(db, model, dataset, spec)
    if found:
        return Side(model, found, None)
    return Side(model, None, launch_evaluation(db_path, model, spec, split))


def metrics_rows(a: dict, b: dict) -> list[list]:
    """[metric, A, B, B − A] for each metric."""
    return [[METRIC_LABELS[name], round(a["metrics"][name], 4), round(b["metrics"][name], 4),
             round(b["metrics"][name] - a["metrics"][name], 4)] for name in METRIC_NAMES]


def per_query_rows(a: dict, b: dict, dataset: RetrievalDataset, order: str = "largest change",
                   metric: str = "ndcg_at_10") -> list[list]:
    """[query id, query, A, B, B − A] per query, sorted by the change of `metric`.

    order: "largest change" (wins and losses by size), "wins first" or "losses first"."""
    rows = []
    for query_id, text in dataset.queries.items():
        score_a = a["per_query"].get(query_id, {}).get(metric, 0.0)
        score_b = b["per_query"].get(query_id, {}).get(metric, 0.0)
        rows.append([query_id, text, round(score_a, 4), round(score_b, 4), round(score_b - score_a, 4)])
    if order == "wins first":
        rows.sort(key=lambda row: -row[4])
    elif order == "losses first":
        rows.sort(key=lambda row: row[4])
    else:
        rows.sort(key=lambda row: -abs(row[4]))
    return rows


def stored_rows(db, limit: int = 50) -> list[list]:
    """Recent evaluations for the history table: id, run, model, dataset, split, headline metrics, when."""
    rows = []
    for row in evaluation_rows.list_evaluations(db, limit=limit):
        metrics = row["metrics"]
        rows.append([row["id"], row["run_id"] or "", row["model"], row["dataset"], row["split"],
                     round(metrics.get("ndcg_at_10", 0.0), 4), round(metrics.get("mrr_at_10", 0.0), 4),
                     round(metrics.get("recall_at_10", 0.0), 4), row["created_at"][:19].replace("T", " ")])
    return rows


@dataclass
class Hit:
    rank: int
    doc_id: str
    score: float
    relevance: int | None   # the qrels grade for a query of the set; None for a typed query
    text: str
    change: str             # B's list only: "↑2", "↓1", "=", "new"; "" for A


def query_instruction(db, model: str, dataset: RetrievalDataset, query_id: str | None,
                      typed_instruction: str | None) -> str | None:
    """The instruction a model's query gets: only models trained with instructions get one."""
    if not trained_with_instructions(db, model):
        return None
    if typed_instruction and typed_instruction.strip():
        return typed_instruction.strip()
    return dataset.instructions.get(query_id) if query_id else None


def search_one(db, model: str, dataset: RetrievalDataset, query: str, query_id: str | None = None,
               instruction: str | None = None, k: int = 10, progress=None) -> list[tuple[str, float]]:
    """Top-k (doc id, score) of one query with one model, over the (cached) corpus embeddings."""
    encoder = loaded_model(model)
    docs = embedding_cache.document_embeddings(encoder, embedding_cache.model_key(model), dataset.fingerprint,
                                               dataset.doc_texts, progress=progress)
    chosen = query_instruction(db, model, dataset, query_id, instruction)
    vector = encoder.encode_queries([query], instruction=chosen)
    indices, scores = top_k(vector, docs, k)
    return [(dataset.doc_ids[i], float(s)) for i, s in zip(indices[0], scores[0])]


def side_by_side(db, model_a: str, model_b: str, dataset: RetrievalDataset, query: str,
                 query_id: str | None = None, instruction: str | None = None, k: int = 10,
                 progress=None) -> tuple[list[Hit], list[Hit]]:
    """Both models' top-k for one query, with relevance marks and B's rank changes against A."""
    if not query or not query.strip():
        raise StudioError("type a query or pick one from the dataset")
    judged = dataset.qrels.get(query_id, {}) if query_id else {}
    text_of = dataset.doc_index()
    lists = []
    for model in (model_a, model_b):
        ranked = search_one(db, model, dataset, query.strip(), query_id, instruction, k, progress)
        lists.append(ranked)
    rank_in_a = {doc_id: position for position, (doc_id, _) in enumerate(lists[0])}
    hits_a = [Hit(position + 1, doc_id, round(score, 4), judged.get(doc_id) if query_id else None,
                  dataset.doc_texts[text_of[doc_id]], "") for position, (doc_id, score) in enumerate(lists[0])]
    hits_b = []
    for position, (doc_id, score) in enumerate(lists[1]):
        before = rank_in_a.get(doc_id)
        if before is None:
            change = "new"
        elif before > position:
            change = f"↑{before - position}"
        elif before < position:
            change = f"↓{position - before}"
        else:
            change = "="
        hits_b.append(Hit(position + 1, doc_id, round(score, 4), judged.get(doc_id) if query_id else None,
                          dataset.doc_texts[text_of[doc_id]], change))
    return hits_a, hits_b


@dataclass
class Projection:
    """2-D PCA coordinates of sampled queries and documents for one model."""
    x: np.ndarray
    y: np.ndarray
    kinds: list[str]      # "query", "relevant document", "other document"
    labels: list[str]     # short hover text
    explained: tuple[float, float]


def projection_sample(dataset: RetrievalDataset, n_queries: int = 30, n_other: int = 150, seed: int = 0):
    """(query ids, relevant doc ids, other doc ids): a fixed sample, the same for both models."""
    rng = random.Random(seed)
    query_ids = sorted(dataset.queries)
    query_ids = rng.sample(query_ids, min(n_queries, len(query_ids)))
    known = set(dataset.doc_ids)
    relevant = sorted({doc for q in query_ids for doc, grade in dataset.qrels[q].items() if grade > 0 and doc in known})
    rest = [doc for doc in dataset.doc_ids if doc not in set(relevant)]
    others = rng.sample(rest, min(n_other, len(rest)))
    return query_ids, relevant, others


def project(db, model: str, dataset: RetrievalDataset, sample, progress=None) -> Projection:
    query_ids, relevant, others = sample
    encoder = loaded_model(model)
    docs = embedding_cache.document_embeddings(encoder, embedding_cache.model_key(model), dataset.fingerprint,
                                               dataset.doc_texts, progress=progress)
    position = dataset.doc_index()
    query_vectors = np.vstack([
        encoder.encode_queries([dataset.queries[q]], instruction=query_instruction(db, model, dataset, q, None))
        for q in query_ids]) if query_ids else np.zeros((0, docs.shape[1]), dtype=np.float32)
    doc_rows = [position[d] for d in relevant + others]
    doc_vectors = np.asarray(docs[doc_rows], dtype=np.float32)
    points = np.vstack([query_vectors, doc_vectors]).astype(np.float64)
    if len(points) < 3:
        raise StudioError("the dataset is too small to project: it needs at least three texts")
    centred = points - points.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ components[:2].T
    variance = singular ** 2
    explained = tuple(float(v) for v in variance[:2] / variance.sum())
    kinds = ["query"] * len(query_ids) + ["relevant document"] * len(relevant) + ["other document"] * len(others)
    labels = [f"{q}: {dataset.queries[q][:80]}" for q in query_ids]
    labels += [f"{d}: {dataset.doc_texts[position[d]][:80]}" for d in relevant + others]
    return Projection(coords[:, 0], coords[:, 1], kinds, labels, explained)


__all__ = ["BASE_MODELS", "Hit", "METRIC_LABELS", "Projection", "Side", "dataset_choices", "find_evaluation",
           "load_dataset", "metrics_rows", "model_choices", "per_query_rows", "prepare_side", "project",
           "projection_sample", "side_by_side"]
