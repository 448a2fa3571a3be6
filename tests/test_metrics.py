import random

import pytest
import pytrec_eval

from studio.evaluation.metrics import METRIC_NAMES, evaluate_run, rank

# pytrec_eval's measure for each of our metric names (its MRR is uncut: we cut the run to 10 first).
TREC_NAMES = {
    "ndcg_at_10": "ndcg_cut_10",
    "recall_at_1": "recall_1",
    "recall_at_5": "recall_5",
    "recall_at_10": "recall_10",
    "recall_at_100": "recall_100",
    "map_at_100": "map_cut_100",
}


def random_case(rng: random.Random, n_queries=40, n_docs=300, tie_decimals=None):
    docs = [f"d{i}" for i in range(n_docs)]
    qrels, run = {}, {}
    for q in range(n_queries):
        judged = rng.sample(docs, rng.randint(1, 25))
        # Graded relevance with zeros among them; some queries have no relevant document at all.
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        retrieved = rng.sample(docs, rng.randint(5, 200))
        scores = {d: rng.random() for d in retrieved}
        if tie_decimals is not None:
            scores = {d: round(s, tie_decimals) for d, s in scores.items()}
        run[f"q{q}"] = scores
    qrels["q_none"] = {docs[0]: 0, docs[1]: 0}
    run["q_none"] = {docs[0]: 0.3, docs[5]: 0.9}
    return qrels, run


def reference(qrels, run):
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, set(TREC_NAMES.values()))
    full = evaluator.evaluate(run)
    cut_run = {q: {d: scores[d] for d in rank(scores, 10)} for q, scores in run.items()}
    recip = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut_run)
    return full, recip


@pytest.mark.parametrize("seed,tie_decimals", [(1, None), (2, None), (3, 1), (4, 2)])
def test_metrics_equal_pytrec_eval_on_random_graded_runs(seed, tie_decimals):
    qrels, run = random_case(random.Random(seed), tie_decimals=tie_decimals)
    ours = evaluate_run(qrels, run)
    full, recip = reference(qrels, run)
    assert set(ours.per_query) == set(full)
    for query_id, values in full.items():
        for name, trec_name in TREC_NAMES.items():
            assert ours.per_query[query_id][name] == pytest.approx(values[trec_name], abs=1e-6), (query_id, name)
        assert ours.per_query[query_id]["mrr_at_10"] == pytest.approx(recip[query_id]["recip_rank"], abs=1e-6)
    for name, trec_name in TREC_NAMES.items():
        mean = sum(v[trec_name] for v in full.values()) / len(full)
        assert ours.metrics[name] == pytest.approx(mean, abs=1e-6)


def test_ties_are_ordered_by_document_id_descending_like_trec_eval():
    assert rank({"a": 0.5, "c": 0.9, "b": 0.5, "d": 0.5}) == ["c", "d", "b", "a"]


def test_graded_gain_is_linear_and_mrr_stops_at_rank_10():
    qrels = {"q": {"late": 1, "top": 2}}
    run = {"q": {f"x{i}": 1.0 - i / 100 for i in range(10)}}
    run["q"]["late"] = 0.0  # rank 11: outside MRR@10 and nDCG@10, inside Recall@100
    result = evaluate_run(qrels, run).per_query["q"]
    assert result["mrr_at_10"] == 0.0
    assert result["ndcg_at_10"] == 0.0
    assert result["recall_at_100"] == 0.5
    run["q"]["top"] = 2.0
    result = evaluate_run(qrels, run).per_query["q"]
    # DCG = 2 / log2(2); ideal = 2 / log2(2) + 1 / log2(3)
    assert result["ndcg_at_10"] == pytest.approx(2 / (2 + 1 / 1.5849625007211562))
    assert result["mrr_at_10"] == 1.0


def test_query_missing_from_run_scores_zero_and_counts_in_the_mean():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    result = evaluate_run(qrels, {"q1": {"a": 1.0}})
    assert result.per_query["q2"] == {name: 0.0 for name in METRIC_NAMES}
    assert result.metrics["ndcg_at_10"] == 0.5
