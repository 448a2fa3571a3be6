import json

import numpy as np
import pytest

from storage.db import open_db
from studio.errors import StudioError
from studio.evaluation import choices, compare, side_by_side
from studio.evaluation.instructions import NONE, QueryInstruction
from studio.evaluation.settings import EvalSettings
from studio.evaluation.beir import load_beir
from studio.evaluation.runner import evaluate, store
from tests.beir_files import write_beir
from tests.tiny_models import build_tiny_encoder


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return str(build_tiny_encoder(folder / "a", seed=0)), str(build_tiny_encoder(folder / "b", seed=3))


def evaluation(per_query: dict, metrics: dict | None = None) -> dict:
    return {"metrics": metrics or {}, "per_query": {q: {"ndcg_at_10": v} for q, v in per_query.items()}}


def test_per_query_rows_sort_wins_and_losses(tmp_path):
    dataset = load_beir(write_beir(tmp_path / "toy"), "test")
    a = evaluation({"q1": 0.5, "q2": 0.9, "q3": 0.2})
    b = evaluation({"q1": 0.6, "q2": 0.1, "q3": 0.7})
    assert [row[0] for row in compare.per_query_rows(a, b, dataset, "wins first")] == ["q3", "q1", "q2"]
    assert [row[0] for row in compare.per_query_rows(a, b, dataset, "losses first")] == ["q2", "q1", "q3"]
    rows = compare.per_query_rows(a, b, dataset, "largest change")
    assert [row[0] for row in rows] == ["q2", "q3", "q1"]
    assert rows[0][1] == "how do proteins get their shape" and rows[0][4] == pytest.approx(-0.8)


def test_metrics_rows_give_b_minus_a():
    names = ["ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_5", "recall_at_10", "recall_at_100", "map_at_100"]
    a = {"metrics": {n: 0.5 for n in names}}
    b = {"metrics": {n: 0.75 for n in names}}
    rows = compare.metrics_rows(a, b)
    assert rows[0] == ["nDCG@10", 0.5, 0.75, 0.25] and len(rows) == 7


def test_side_by_side_marks_relevance_and_rank_changes(tmp_path, encoders):
    dataset = load_beir(write_beir(tmp_path / "toy"), "test")
    plain = (QueryInstruction(NONE), QueryInstruction(NONE))
    hits_a, hits_b = side_by_side.side_by_side(encoders[0], encoders[1], dataset, dataset.queries["q1"], plain, "q1",
                                               k=4)
    assert [h.rank for h in hits_a] == [1, 2, 3, 4] and all(h.change == "" for h in hits_a)
    rank_in_a = {h.doc_id: h.rank for h in hits_a}
    for hit in hits_b:
        before = rank_in_a.get(hit.doc_id)
        expected = "new" if before is None else ("=" if before == hit.rank else
                                                 (f"↑{before - hit.rank}" if before > hit.rank else f"↓{hit.rank - before}"))
        assert hit.change == expected
        assert hit.relevance == dataset.qrels["q1"].get(hit.doc_id)  # None: not judged
    assert any(h.change == "new" for h in hits_b) or {h.doc_id for h in hits_a} == {h.doc_id for h in hits_b}
    typed_a, _ = side_by_side.side_by_side(encoders[0], encoders[1], dataset, "volcano magma", plain)
    assert all(h.relevance is None for h in typed_a)  # a typed query has no judgements
    with pytest.raises(StudioError, match="type a query"):
        side_by_side.side_by_side(encoders[0], encoders[1], dataset, "  ", plain)


def test_stored_evaluations_are_found_again_only_for_the_same_model_files(tmp_path, db_path, encoders):
    folder = write_beir(tmp_path / "toy")
    dataset = load_beir(folder, "test")
    db = open_db(db_path)
    first, second = (EvalSettings.for_dataset(model, str(folder)) for model in encoders)
    assert compare.find_evaluation(db, first, dataset) is None
    stored_id = store(db, evaluate(encoders[0], dataset))
    assert compare.find_evaluation(db, first, dataset)["id"] == stored_id
    assert compare.find_evaluation(db, second, dataset) is None
    assert compare.stored_rows(db)[0][0] == stored_id


def test_projection_places_every_sampled_text_for_both_models(tmp_path, encoders):
    dataset = load_beir(write_beir(tmp_path / "toy"), "test")
    sample = side_by_side.projection_sample(dataset, n_queries=3, n_other=2)
    for model in encoders:
        points = side_by_side.project(model, dataset, sample, QueryInstruction(NONE))
        assert len(points.x) == len(points.kinds) == 3 + len(sample[1]) + 2
        assert points.kinds.count("query") == 3 and "relevant document" in points.kinds
        assert np.isfinite(points.x).all() and 0 < sum(points.explained) <= 1.0 + 1e-9


def test_model_and_dataset_choices_list_finished_runs_and_heldout_sets(db_path, encoders):
    db = open_db(db_path)
    db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) VALUES "
               "('done-run', 'minilm', ?, ?, 'done', 'x'), ('running-run', 'minilm', '{}', ?, 'running', 'x')",
               [json.dumps({"heldout_ids": [1, 2]}), encoders[0], encoders[1]])
    values = [value for _, value in choices.model_choices(db)]
    assert values[:2] == ["minilm", "smollm2"] and encoders[0] in values and encoders[1] not in values
    assert [value for _, value in choices.dataset_choices(db)] == ["heldout:run-1"]


def test_compare_finds_a_runs_heldout_evaluation_stored_with_the_models_own_max_length(db_path, tmp_path, encoders):
    import shutil

    from studio.evaluation import evaluate_run_heldout
    from studio.evaluation.heldout import heldout_dataset
    from tests.test_evaluation_runner import make_run_with_heldout

    model = shutil.copytree(encoders[0], tmp_path / "run-out")
    (model / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    run_id, _ = make_run_with_heldout(db_path, str(model), encoders[1], {"max_length": 64})
    evaluate_run_heldout(db_path, run_id)
    db = open_db(db_path)
    spec = f"heldout:run-{run_id}"
    dataset = heldout_dataset(db, run_id)
    found = compare.find_evaluation(db, compare.side_settings(compare.SideRequest(str(model)), spec, "test"), dataset)
    assert found is not None and found["run_id"] == run_id  # Compare shows the run's own figure, not a new one


def test_an_empty_dataset_list_says_why_and_what_else_to_use(db_path, encoders):
    db = open_db(db_path)
    assert "No training run has finished yet" in choices.empty_datasets_note(db)
    db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) VALUES "
               "('small', 'minilm', ?, ?, 'done', 'x')", [json.dumps({"heldout_ids": [], "heldout_share": 0.1}),
                                                           encoders[0]])
    note = choices.empty_datasets_note(db)
    assert "Run 1 held out 0 examples (held-out share 0.1)" in note
    assert "a BEIR folder" in note and "a BEIR zip" in note and "heldout:run-N" in note
    assert "the queries of a corpus" not in note
    # Where the store has corpora (grounded generation), their queries are offered too.
    db.execute("CREATE TABLE IF NOT EXISTS corpora (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, source TEXT, "
               "chunk_words INTEGER, overlap_words INTEGER, documents INTEGER DEFAULT 0, passages INTEGER DEFAULT 0, "
               "created_at TEXT)")
    db.execute("INSERT INTO corpora (name, source, chunk_words, overlap_words, created_at) "
               "VALUES ('handbook', 'x', 200, 20, 'x')")
    assert "the queries of a corpus (handbook)" in choices.empty_datasets_note(db)
    db.execute("UPDATE runs SET config = ? WHERE id = 1", [json.dumps({"heldout_ids": [1]})])
    assert choices.empty_datasets_note(db) is None
