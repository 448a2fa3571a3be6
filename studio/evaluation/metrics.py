"""Retrieval metrics with the field's conventions, so our numbers equal trec_eval's and MTEB's.

- A run is ranked by score, highest first; equal scores are ordered by document id, *descending*
  (trec_eval's rule, which pytrec_eval inherits). Every metric below uses this one ranking.
- nDCG@k: the gain of a document is its graded relevance from the qrels (linear gain, not 2^rel-1),
  discounted by log2(rank + 1); the ideal ranking sorts all judged relevances of the query.
- MRR@k (MTEB): the reciprocal rank of the first document with relevance > 0 within the top k.
- Recall@k: relevant documents (relevance >= 1) in the top k, over all relevant documents of the query.
- MAP@k (trec_eval's map_cut): the sum of precision at each relevant document within the top k,
  over all relevant documents of the query.
A query in the qrels counts even when none of its documents is relevant (all its metrics are 0),
as in trec_eval; a query missing from the run scores 0.
"""

import math
from dataclasses import dataclass

NDCG_K = 10
MRR_K = 10
RECALL_KS = (1, 5, 10, 100)
MAP_K = 100
METRIC_NAMES = ("ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_5", "recall_at_10",
                "recall_at_100", "map_at_100")


def rank(doc_scores: dict[str, float], k: int | None = None) -> list[str]:
    """Document ids by score descending, equal scores by document id descending (trec_eval)."""
    # Two stable sorts: the second (by score) keeps the first's id order among equal scores.
    by_id = sorted(doc_scores.items(), key=lambda item: item[0], reverse=True)
    ranked = sorted(by_id, key=lambda item: item[1], reverse=True)
    return [doc_id for doc_id, _ in (ranked if k is None else ranked[:k])]


def query_metrics(judgements: dict[str, int], ranking: list[str]) -> dict[str, float]:
    """All metrics of one query, from its qrels and its ranked document ids (best first)."""
    relevant = {doc_id for doc_id, rel in judgements.items() if rel >= 1}
    n_relevant = len(relevant)

    dcg = sum(judgements.get(doc_id, 0) / math.log2(position + 2)
              for position, doc_id in enumerate(ranking[:NDCG_K]) if judgements.get(doc_id, 0) > 0)
    ideal = sorted((rel for rel in judgements.values() if rel > 0), reverse=True)[:NDCG_K]
    idcg = sum(rel / math.log2(position + 2) for position, rel in enumerate(ideal))

    reciprocal_rank = 0.0
    for position, doc_id in enumerate(ranking[:MRR_K]):
        if judgements.get(doc_id, 0) > 0:
            reciprocal_rank = 1.0 / (position + 1)
            break

    precision_sum, hits = 0.0, 0
    for position, doc_id in enumerate(ranking[:MAP_K]):
        if doc_id in relevant:
            hits += 1
            precision_sum += hits / (position + 1)

    metrics = {
        "ndcg_at_10": dcg / idcg if idcg > 0 else 0.0,
        "mrr_at_10": reciprocal_rank,
        "map_at_100": precision_sum / n_relevant if n_relevant else 0.0,
    }
    for k in RECALL_KS:
        found = sum(1 for doc_id in ranking[:k] if doc_id in relevant)
        metrics[f"recall_at_{k}"] = found / n_relevant if n_relevant else 0.0
    return {name: metrics[name] for name in METRIC_NAMES}


@dataclass
class MetricResult:
    metrics: dict[str, float]                 # mean over the queries of the qrels
    per_query: dict[str, dict[str, float]]    # query id → its metrics


def evaluate_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> MetricResult:
    """Score a run (query id → document id → score) against qrels (query id → document id → grade)."""
    per_query = {}
    for query_id, judgements in qrels.items():
        ranking = rank(run.get(query_id, {}), max(MAP_K, max(RECALL_KS), NDCG_K, MRR_K))
        per_query[query_id] = query_metrics(judgements, ranking)
    return MetricResult(mean_metrics(per_query), per_query)


def mean_metrics(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    if not per_query:
        return {name: 0.0 for name in METRIC_NAMES}
    return {name: sum(values[name] for values in per_query.values()) / len(per_query)
            for name in METRIC_NAMES}
