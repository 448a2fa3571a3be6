"""Looking inside a comparison: one query's top-k lists from both models, and a PCA map of both
embedding spaces. Queries get the same instruction their model's evaluation gave them."""

import random
from dataclasses import dataclass

import numpy as np

from studio.errors import StudioError
from studio.evaluation import embedding_cache
from studio.evaluation.beir import RetrievalDataset
from studio.evaluation.instructions import QueryInstruction
from studio.evaluation.runner import loaded_model
from studio.evaluation.search import top_k


@dataclass
class Hit:
    rank: int
    doc_id: str
    score: float
    relevance: int | None   # the qrels grade for a query of the set; None for a typed query
    text: str
    change: str             # B's list only: "↑2", "↓1", "=", "new"; "" for A


def _corpus(model: str, dataset: RetrievalDataset, progress=None):
    encoder = loaded_model(model)
    docs = embedding_cache.document_embeddings(encoder, embedding_cache.model_key(model), dataset.fingerprint,
                                               dataset.doc_texts, progress=progress)
    return encoder, docs


def search_one(model: str, dataset: RetrievalDataset, query: str, instruction: QueryInstruction,
               query_id: str | None = None, k: int = 10, progress=None) -> list[tuple[str, float]]:
    """Top-k (doc id, score) of one query with one model, over the (cached) corpus embeddings.

    A picked query's own document (same id) is left out, as in the evaluation."""
    encoder, docs = _corpus(model, dataset, progress)
    prompt = instruction.prompt_of(dataset, query_id) if query_id else instruction.prompt
    vector = encoder.encode([prompt + query])
    own = dataset.doc_index().get(query_id) if query_id else None
    indices, scores = top_k(vector, docs, k + (1 if own is not None else 0))
    return [(dataset.doc_ids[i], float(s)) for i, s in zip(indices[0], scores[0]) if i != own][:k]


def side_by_side(model_a: str, model_b: str, dataset: RetrievalDataset, query: str,
                 instructions: tuple[QueryInstruction, QueryInstruction], query_id: str | None = None, k: int = 10,
                 progress=None) -> tuple[list[Hit], list[Hit]]:
    """Both models' top-k for one query, with relevance marks and B's rank changes against A."""
    if not query or not query.strip():
        raise StudioError("type a query or pick one from the dataset")
    judged = dataset.qrels.get(query_id, {}) if query_id else {}
    text_of = dataset.doc_index()
    lists = [search_one(model, dataset, query.strip(), chosen, query_id, k, progress)
             for model, chosen in zip((model_a, model_b), instructions)]
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


def project(model: str, dataset: RetrievalDataset, sample, instruction: QueryInstruction,
            progress=None) -> Projection:
    query_ids, relevant, others = sample
    encoder, docs = _corpus(model, dataset, progress)
    position = dataset.doc_index()
    query_vectors = (encoder.encode([instruction.prompt_of(dataset, q) + dataset.queries[q] for q in query_ids])
                     if query_ids else np.zeros((0, docs.shape[1]), dtype=np.float32))
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


__all__ = ["Hit", "Projection", "project", "projection_sample", "search_one", "side_by_side"]
