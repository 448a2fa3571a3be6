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
from studio.evaluation import embedding_cache, instructions
from studio.evaluation.beir import RetrievalDataset, load_beir
from studio.evaluation.corpus_set import CORPUS_PREFIX, corpus_dataset, corpus_of
from studio.evaluation.heldout import HELDOUT_SPLIT, heldout_dataset, heldout_dataset_name
from studio.evaluation.metrics import evaluate_run
from studio.evaluation.search import top_k
from studio.evaluation.settings import EvalSettings, heldout_run_of

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
    """How a dataset is named in the evaluations table: a resolved path, heldout:run-N or corpus:NAME."""
    if spec.startswith("heldout:") or spec.startswith(CORPUS_PREFIX):
        return spec
    return str(Path(spec).expanduser().resolve())


def load_dataset(db, spec: str, split: str = "test") -> RetrievalDataset:
    """`heldout:run-N` (a run's held-out examples), `corpus:NAME` (a corpus's queries held out of every
    run) or the path of a BEIR folder or zip."""
    run_id = heldout_run_of(spec)
    if run_id is not None:
        return heldout_dataset(db, run_id)
    corpus = corpus_of(spec)
    if corpus is not None:
        return corpus_dataset(db, corpus)
    return load_beir(spec, split)


def trained_with_instructions(db, model_name: str) -> bool:
    """Whether the model is a run's output trained with task instructions on its queries."""
    try:
        target = str(Path(model_name).expanduser().resolve())
    except OSError:
        return False
    for row in db.query("SELECT config, outcome, out_dir FROM runs WHERE out_dir IS NOT NULL ORDER BY id DESC"):
        if str(Path(row["out_dir"]).expanduser().resolve()) == target:
            return run_uses_instructions(json.loads(row["config"] or "{}"), json.loads(row["outcome"] or "{}"))
    return False


def run_uses_instructions(config: dict, outcome: dict) -> bool:
    """Whether a run's exported model takes task instructions on its queries: it was trained with them,
    unless it shipped the base weights bare because the base model searched better without them."""
    return bool(config.get("use_instructions", True)) and not outcome.get("bare_queries")


def expects_instructions(db, model_name: str) -> bool:
    """A model trained with instructions, or one whose folder saves a query prompt: evaluating it without
    any understates it."""
    return trained_with_instructions(db, model_name) or bool(instructions.saved_query_prompt(model_name))


def choose_instruction(db, settings: EvalSettings, dataset: RetrievalDataset) -> instructions.QueryInstruction:
    return instructions.choose(settings.model, dataset, instruction=settings.instruction,
                               no_instruction=settings.no_instruction,
                               trained_with_instructions=trained_with_instructions(db, settings.model))


def evaluate(model_name: str, dataset: RetrievalDataset, *, instruction: instructions.QueryInstruction | None = None,
             exclude_identical_ids: bool = True, pooling: str | None = None, max_length: int | None = None,
             progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> EvaluationOutcome:
    """Encode the corpus (cached) and the queries, retrieve the top documents, and score them.

    `instruction` says what the queries get (studio.evaluation.instructions); None: the model's saved
    query prompt, if it has one. With `exclude_identical_ids` a document whose id is the query's own id
    is left out of that query's ranking (MTEB's rule for ArguAna and Quora, where a query is a corpus
    document)."""
    started = time.perf_counter()
    chosen = instruction or instructions.choose(model_name, dataset)
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
    query_vectors = encode_queries(model, dataset, query_ids, chosen,
                                   lambda done: report(len(dataset.doc_ids) + done, total,
                                                       f"Encoding queries {done}/{len(query_ids)}"), should_stop)
    report(total, total, "Searching and scoring")
    position = dataset.doc_index()
    own_document = {q: position[q] for q in query_ids if q in position} if exclude_identical_ids else {}
    indices, scores = top_k(query_vectors, doc_vectors, SEARCH_DEPTH + (1 if own_document else 0))
    ranked = {}
    for row, query_id in enumerate(query_ids):
        own = own_document.get(query_id)
        ranked[query_id] = [(int(i), float(s)) for i, s in zip(indices[row], scores[row]) if i != own][:SEARCH_DEPTH]
    run = {query_id: {dataset.doc_ids[i]: s for i, s in pairs} for query_id, pairs in ranked.items()}
    result = evaluate_run(dataset.qrels, run)
    per_query = {}
    for query_id in query_ids:
        shown = [[dataset.doc_ids[i], round(s, 6)] for i, s in ranked[query_id][:SHOWN_PER_QUERY]]
        per_query[query_id] = {**result.per_query[query_id], "top": shown}
    details = {
        "model_key": key, "corpus": corpus, "n_docs": len(dataset.doc_ids), "n_queries": len(query_ids),
        "queries": dataset.query_fingerprint,
        **chosen.to_details(), "excluded_identical_ids": len(own_document),
        "pooling": pooling, "max_length": max_length, "seconds": round(time.perf_counter() - started, 3),
        "warnings": dataset.warnings,
    }
    return EvaluationOutcome(model_name, dataset_label(dataset.source) if dataset.source else dataset.name,
                             dataset.split, result.metrics, per_query, details)


def encode_queries(model, dataset: RetrievalDataset, query_ids: list[str], chosen: instructions.QueryInstruction,
                   progress: Callable[[int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Query embeddings in the order of `query_ids`, each written after its prompt, encoded in groups
    that share one (as sentence-transformers' `encode_query` writes the saved prompt before the query)."""
    groups: dict[str, list[int]] = {}
    for position, query_id in enumerate(query_ids):
        groups.setdefault(chosen.prompt_of(dataset, query_id), []).append(position)
    out = None
    done = 0
    for prompt, positions in groups.items():
        for start in range(0, len(positions), QUERY_CHUNK):
            if should_stop and should_stop():
                raise embedding_cache.EncodingCancelled()
            part = positions[start:start + QUERY_CHUNK]
            vectors = np.asarray(model.encode([prompt + dataset.queries[query_ids[p]] for p in part]),
                                 dtype=np.float32)
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


def run_evaluation(db_path, settings: EvalSettings, *, job_id: int | None = None,
                   run_id: int | None = None) -> EvaluationOutcome:
    """The `eval` command: one evaluation as a job (progress in the jobs table), stored when done."""
    from studio.jobs import JobContext

    settings.validate()
    job = JobContext.for_command(db_path, job_id, "eval", settings.to_dict())
    db = job.db
    try:
        dataset = load_dataset(db, settings.dataset_spec, settings.split)
        outcome = evaluate(settings.model, dataset, instruction=choose_instruction(db, settings, dataset),
                           exclude_identical_ids=not settings.keep_identical_ids, pooling=settings.pooling,
                           max_length=settings.max_length,
                           progress=lambda done, total, message: job.progress(done, total, message),
                           should_stop=job.cancel_requested)
        outcome.details["settings"] = settings.to_dict()
        if run_id is None and settings.heldout_run is not None:
            run_id = settings.heldout_run
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


def launch_evaluation(db_path, settings: EvalSettings) -> int:
    """Start `python -m studio eval …` (its flags derived from `settings`) in the background; return its job id."""
    from studio.jobs import launch

    settings.validate()
    return launch(db_path, "eval", settings.job_argv(), args=settings.to_dict())


def evaluate_run_heldout(db_path, run_id: int, include_base: bool = True, progress: Progress | None = None) -> dict:
    """Metrics of a finished run's model on its held-out examples, stored in evaluations.

    Called by the trainer at the end of each run. The base model is evaluated on the same set too
    (stored with the same run id, its role "base" beside the run's "fine-tuned") so the run shows
    what training changed. Returns the fine-tuned model's metrics, or {} when the run kept no
    held-out examples."""
    from studio.evaluation.heldout import heldout_ids, run_row

    db = open_db(db_path)
    run = run_row(db, run_id)
    if not heldout_ids(db, run_id) or not run.get("out_dir"):
        return {}
    dataset = heldout_dataset(db, run_id)
    config = run["config"]
    max_length = config.get("max_length")
    tuned = instructions.choose(run["out_dir"], dataset, trained_with_instructions=run_uses_instructions(
        config, json.loads(run.get("outcome") or "{}")))

    def said(whose: str) -> Progress | None:
        if progress is None:
            return None
        return lambda done, total, message: progress(done, total, f"held-out evaluation of {whose}: {message}")

    outcome = evaluate(run["out_dir"], dataset, instruction=tuned, max_length=max_length,
                       progress=said("the fine-tuned model"))
    outcome.details["role"] = "fine-tuned"
    store(db, outcome, run_id=run_id)
    if include_base and run.get("base_model"):
        try:
            base = evaluate(run["base_model"], dataset, max_length=max_length, progress=said("the base model"))
        except (StudioError, OSError) as error:  # e.g. a hub id with no network: the run's own result stands
            outcome.details["base_error"] = str(error)
        else:
            base.details["role"] = "base"
            store(db, base, run_id=run_id)
    return dict(outcome.metrics)


__all__ = ["EvaluationOutcome", "evaluate", "evaluate_run_heldout", "expects_instructions", "launch_evaluation",
           "load_dataset", "run_evaluation", "HELDOUT_SPLIT", "heldout_dataset_name"]
