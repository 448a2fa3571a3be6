"""Evaluating one model on one dataset: encode (with the cache), search, score, store.

Runs in-process (`evaluate`), as a command or background job (`run_evaluation`, used by
`python -m studio eval`), or started from the UI (`launch_evaluation`, a subprocess job).
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from storage import evaluations as evaluation_rows
from storage.db import open_db
from studio.errors import StudioError
from studio.evaluation import embedding_cache
from studio.evaluation.beir import RetrievalDataset, load_beir
from studio.evaluation.heldout import HELDOUT_SPLIT, heldout_dataset, heldout_dataset_name
from studio.evaluation.metrics import evaluate_run
from studio.evaluation.search import top_k

SEARCH_DEPTH = 100   # the deepest cut any metric looks at (Recall@100, MAP@100)
SHOWN_PER_QUERY = 10  # ranked documents kept per query in the stored result
QUERY_CHUNK = 256

Progress = Callable[[int, int, str], None]


@dataclass
class EvaluationOutcome:
    model: str
    dataset: str
    split: str
    metrics: dict[str, float]
    per_query: dict[str, dict]  # query id → its metrics plus "top": [[doc id, score], …]
    details: dict = field(default_factory=dict)


def loaded_model(name: str, pooling: str | None = None, max_length: int | None = None):
    """A loaded embedding model, kept for reuse (the Compare tab encodes one query at a time).

    Keyed by the model's files too, so a run retrained into the same folder is loaded afresh."""
    return _load_cached(name, pooling, max_length, embedding_cache.model_key(name, pooling, max_length))


@lru_cache(maxsize=3)
def _load_cached(name: str, pooling: str | None, max_length: int | None, key: str):
    from studio.embedding import load_model

    return load_model(name, pooling=pooling, max_length=max_length)


def dataset_label(spec: str) -> str:
    """How a dataset is named in the evaluations table: a resolved path, or heldout:run-N."""
    if spec.startswith("heldout:"):
        return spec
    return str(Path(spec).expanduser().resolve())


def load_dataset(db, spec: str, split: str = "test") -> RetrievalDataset:
    """`heldout:run-N` (a run's held-out examples) or the path of a BEIR folder or zip."""
    if spec.startswith("heldout:run-"):
        try:
            run_id = int(spec.removeprefix("heldout:run-"))
        except ValueError:
            raise StudioError(f"{spec!r} is not a held-out set: write heldout:run-N with N a run id")
        return heldout_dataset(db, run_id)
    return load_beir(spec, split)


def trained_with_instructions(db, model_name: str) -> bool:
    """Whether the model is a run's output trained with task instructions on its queries.

    Base models get no instruction (MTEB's convention for models without prompts)."""
    try:
        target = str(Path(model_name).expanduser().resolve())
    except OSError:
        return False
    for row in db.query("SELECT config, out_dir FROM runs WHERE out_dir IS NOT NULL ORDER BY id DESC"):
        if str(Path(row["out_dir"]).expanduser().resolve()) == target:
            config = json.loads(row["config"] or "{}")
            return bool(config.get("use_instructions", True))
    return False


def evaluate(model_name: str, dataset: RetrievalDataset, *, use_instructions: bool = False,
             instruction: str | None = None, pooling: str | None = None, max_length: int | None = None,
             progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> EvaluationOutcome:
    """Encode the corpus (cached) and the queries, retrieve the top documents, and score them.

    `instruction` applies one instruction to every query; otherwise, with `use_instructions`,
    each query gets its own from the dataset (held-out sets carry their task definitions)."""
    started = time.perf_counter()
    report = progress or (lambda done, total, message: None)
    total = len(dataset.doc_ids) + len(dataset.queries)
    report(0, total, f"Loading {model_name}")
    model = loaded_model(model_name, pooling, max_length)
    key = embedding_cache.model_key(model_name, pooling, max_length)
    corpus = dataset.fingerprint
    doc_vectors = embedding_cache.document_embeddings(
        model, key, corpus, dataset.doc_texts,
        progress=lambda done, n: report(done, total, f"Encoding documents {done}/{n}"), should_stop=should_stop)

    query_ids = list(dataset.queries)
    query_vectors = encode_queries(model, dataset, query_ids, use_instructions, instruction,
                                   lambda done: report(len(dataset.doc_ids) + done, total,
                                                       f"Encoding queries {done}/{len(query_ids)}"), should_stop)
    report(total, total, "Searching and scoring")
    indices, scores = top_k(query_vectors, doc_vectors, SEARCH_DEPTH)
    run = {}
    for row, query_id in enumerate(query_ids):
        run[query_id] = {dataset.doc_ids[i]: float(s) for i, s in zip(indices[row], scores[row])}
    result = evaluate_run(dataset.qrels, run)
    per_query = {}
    for row, query_id in enumerate(query_ids):
        shown = [[dataset.doc_ids[i], round(float(s), 6)] for i, s in
                 zip(indices[row][:SHOWN_PER_QUERY], scores[row][:SHOWN_PER_QUERY])]
        per_query[query_id] = {**result.per_query[query_id], "top": shown}
    details = {
        "model_key": key, "corpus": corpus, "n_docs": len(dataset.doc_ids), "n_queries": len(query_ids),
        "instructions": "one" if instruction else ("per query" if use_instructions and dataset.instructions
                                                  else "none"),
        "pooling": pooling, "max_length": max_length, "seconds": round(time.perf_counter() - started, 3),
        "warnings": dataset.warnings,
    }
    return EvaluationOutcome(model_name, dataset_label(dataset.source) if dataset.source else dataset.name,
                             dataset.split, result.metrics, per_query, details)


def encode_queries(model, dataset: RetrievalDataset, query_ids: list[str], use_instructions: bool,
                   instruction: str | None, progress: Callable[[int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Query embeddings in the order of `query_ids`, encoded in groups that share an instruction."""
    groups: dict[str | None, list[int]] = {}
    for position, query_id in enumerate(query_ids):
        chosen = instruction or (dataset.instructions.get(query_id) if use_instructions else None)
        groups.setdefault(chosen, []).append(position)
    out = None
    done = 0
    for chosen, positions in groups.items():
        for start in range(0, len(positions), QUERY_CHUNK):
            if should_stop and should_stop():
                raise embedding_cache.EncodingCancelled()
            part = positions[start:start + QUERY_CHUNK]
            vectors = np.asarray(model.encode_queries([dataset.queries[query_ids[p]] for p in part],
                                                      instruction=chosen), dtype=np.float32)
            if out is None:
                out = np.empty((len(query_ids), vectors.shape[1]), dtype=np.float32)
            out[part] = vectors
            done += len(part)
            if progress:
                progress(done)
    if out is None:
        raise StudioError("the dataset has no queries with judgements: check its qrels file")
    return out


def store(db, outcome: EvaluationOutcome, job_id: int | None = None, run_id: int | None = None) -> int:
    return evaluation_rows.insert_evaluation(
        db, model=outcome.model, dataset=outcome.dataset, split=outcome.split, metrics=outcome.metrics,
        per_query=outcome.per_query, details=outcome.details, job_id=job_id, run_id=run_id)


def run_evaluation(db_path, model: str, dataset_spec: str, split: str = "test", *, job_id: int | None = None,
                   instruction: str | None = None, pooling: str | None = None, max_length: int | None = None,
                   run_id: int | None = None) -> EvaluationOutcome:
    """The `eval` command: one evaluation as a job (progress in the jobs table), stored when done."""
    from studio.jobs import JobContext

    args = {"model": model, "dataset": dataset_spec, "split": split, "instruction": instruction,
            "pooling": pooling, "max_length": max_length}
    job = JobContext.for_command(db_path, job_id, "eval", args)
    db = job.db
    try:
        dataset = load_dataset(db, dataset_spec, split)
        use_instructions = trained_with_instructions(db, model)
        outcome = evaluate(model, dataset, use_instructions=use_instructions, instruction=instruction,
                           pooling=pooling, max_length=max_length,
                           progress=lambda done, total, message: job.progress(done, total, message),
                           should_stop=job.cancel_requested)
        if run_id is None and dataset_spec.startswith("heldout:run-"):
            run_id = int(dataset_spec.removeprefix("heldout:run-"))
        evaluation_id = store(db, outcome, job_id=job.job_id, run_id=run_id)
    except embedding_cache.EncodingCancelled:
        job.cancelled()
        raise StudioError("the evaluation was cancelled before it finished")
    except StudioError as error:
        job.fail(str(error))
        raise
    except Exception as error:  # a model or file failure: recorded on the job, then re-raised
        job.fail(f"the evaluation failed: {error}")
        raise
    outcome.details["evaluation_id"] = evaluation_id
    job.finish(stats={"evaluation_id": evaluation_id, **outcome.metrics},
               message=f"nDCG@10 {outcome.metrics['ndcg_at_10']:.4f} on {len(outcome.per_query)} queries")
    return outcome


def launch_evaluation(db_path, model: str, dataset_spec: str, split: str = "test", *,
                      instruction: str | None = None, max_length: int | None = None) -> int:
    """Start `python -m studio eval …` in the background; return its job id."""
    from studio.jobs import launch

    argv = ["eval", "--model", model]
    argv += ["--heldout-run", dataset_spec.removeprefix("heldout:run-")] if dataset_spec.startswith("heldout:run-") \
        else ["--beir", dataset_spec, "--split", split]
    if instruction:
        argv += ["--instruction", instruction]
    if max_length:
        argv += ["--max-length", str(max_length)]
    args = {"model": model, "dataset": dataset_spec, "split": split}
    return launch(db_path, "eval", argv, args=args)


def evaluate_run_heldout(db_path, run_id: int, include_base: bool = True) -> dict:
    """Metrics of a finished run's model on its held-out examples, stored in evaluations.

    Called by the trainer at the end of each run. The base model is evaluated on the same set too
    (stored with the same run id) so the run shows what training changed. Returns the fine-tuned
    model's metrics, or {} when the run kept no held-out examples."""
    from studio.evaluation.heldout import heldout_ids, run_row

    db = open_db(db_path)
    run = run_row(db, run_id)
    if not heldout_ids(db, run_id) or not run.get("out_dir"):
        return {}
    dataset = heldout_dataset(db, run_id)
    config = run["config"]
    max_length = config.get("max_length")
    outcome = evaluate(run["out_dir"], dataset, use_instructions=bool(config.get("use_instructions", True)),
                       max_length=max_length)
    store(db, outcome, run_id=run_id)
    if include_base and run.get("base_model"):
        try:
            base = evaluate(run["base_model"], dataset, use_instructions=False, max_length=max_length)
        except (StudioError, OSError) as error:  # e.g. a hub id with no network: the run's own result stands
            outcome.details["base_error"] = str(error)
        else:
            store(db, base, run_id=run_id)
    return dict(outcome.metrics)


__all__ = ["EvaluationOutcome", "evaluate", "evaluate_run_heldout", "launch_evaluation", "load_dataset",
           "run_evaluation", "HELDOUT_SPLIT", "heldout_dataset_name"]
