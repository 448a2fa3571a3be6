import json
import os
import time

import numpy as np
import pytest
import pytrec_eval

from storage import evaluations as evaluation_rows
from storage import jobs as job_rows
from storage.db import open_db
from storage.examples import insert_examples
from studio.cli import main
from studio.evaluation import embedding_cache, evaluate_run_heldout
from studio.evaluation.beir import load_beir
from studio.evaluation.runner import evaluate, launch_evaluation, loaded_model
from studio.evaluation.settings import EvalSettings
from tests.beir_files import write_beir
from tests.tiny_models import build_tiny_encoder


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return str(build_tiny_encoder(tmp_path_factory.mktemp("models") / "tiny-bert"))


@pytest.fixture(scope="module")
def other_encoder(tmp_path_factory):
    return str(build_tiny_encoder(tmp_path_factory.mktemp("models") / "tiny-bert-2", seed=1))


class CountingModel:
    """Wraps a real model to count how many documents it was asked to encode."""

    def __init__(self, model):
        self.model, self.encoded = model, 0

    def encode_documents(self, texts, batch_size=32):
        self.encoded += len(texts)
        return self.model.encode_documents(texts, batch_size=batch_size)


def test_document_embeddings_are_cached_per_model_and_corpus(tmp_path, tiny_encoder, other_encoder):
    dataset = load_beir(write_beir(tmp_path / "toy"), "test")
    model = CountingModel(loaded_model(tiny_encoder))
    key = embedding_cache.model_key(tiny_encoder)
    first = embedding_cache.document_embeddings(model, key, dataset.fingerprint, dataset.doc_texts)
    second = embedding_cache.document_embeddings(model, key, dataset.fingerprint, dataset.doc_texts)
    assert model.encoded == len(dataset.doc_texts)  # the second call read the file
    np.testing.assert_array_equal(first, second)
    # Rows are in corpus order even though encoding went longest-first.
    np.testing.assert_allclose(first, model.model.encode_documents(dataset.doc_texts), atol=1e-5)
    assert embedding_cache.cache_path(key, dataset.fingerprint).exists()
    assert embedding_cache.model_key(other_encoder) != key
    assert embedding_cache.model_key(tiny_encoder, max_length=64) != key


def test_retraining_into_the_same_folder_invalidates_the_cache(tmp_path, tiny_encoder):
    key = embedding_cache.model_key(tiny_encoder)
    weights = next(p for p in os.scandir(tiny_encoder) if p.name.endswith(".safetensors"))
    stat = os.stat(weights.path)
    os.utime(weights.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert embedding_cache.model_key(tiny_encoder) != key


def test_evaluation_scores_the_exact_ranking_like_pytrec_eval(tmp_path, tiny_encoder):
    dataset = load_beir(write_beir(tmp_path / "toy"), "test")
    outcome = evaluate(tiny_encoder, dataset)
    model = loaded_model(tiny_encoder)
    docs = model.encode_documents(dataset.doc_texts)
    run = {}
    for query_id, text in dataset.queries.items():
        scores = model.encode_queries([text])[0] @ docs.T
        run[query_id] = {doc_id: float(s) for doc_id, s in zip(dataset.doc_ids, scores)}
        best = sorted(run[query_id].items(), key=lambda item: -item[1])[:6]
        assert [d for d, _ in outcome.per_query[query_id]["top"]] == [d for d, _ in best]
    reference = pytrec_eval.RelevanceEvaluator(dataset.qrels, {"ndcg_cut_10", "map_cut_100"}).evaluate(run)
    for query_id, values in reference.items():
        assert outcome.per_query[query_id]["ndcg_at_10"] == pytest.approx(values["ndcg_cut_10"], abs=1e-6)
        assert outcome.per_query[query_id]["map_at_100"] == pytest.approx(values["map_cut_100"], abs=1e-6)
    assert outcome.details["n_docs"] == 6 and outcome.details["n_queries"] == 3


def test_eval_command_prints_one_json_object_and_stores_the_result(tmp_path, tiny_encoder, db_path, capsys):
    folder = write_beir(tmp_path / "toy")
    code = main(["eval", "--model", tiny_encoder, "--beir", str(folder), "--json", "--db", str(db_path)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip())
    for key in ("ndcg_at_10", "mrr_at_10", "recall_at_10", "recall_at_100", "map_at_100"):
        assert 0.0 <= printed[key] <= 1.0
    assert printed["recall_at_100"] == 1.0  # six documents: everything is retrieved
    db = open_db(db_path)
    stored = evaluation_rows.get_evaluation(db, printed["evaluation_id"])
    assert stored["metrics"]["ndcg_at_10"] == printed["ndcg_at_10"]
    assert set(stored["per_query"]) == {"q1", "q2", "q3"}
    job = job_rows.get_job(db, stored["job_id"])
    assert job["state"] == "done" and job["kind"] == "eval"


def test_eval_command_explains_a_bad_dataset_in_one_line(tmp_path, tiny_encoder, db_path, capsys):
    folder = write_beir(tmp_path / "toy")
    (folder / "corpus.jsonl").write_text("{broken\n")
    code = main(["eval", "--model", tiny_encoder, "--beir", str(folder), "--db", str(db_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: corpus.jsonl line 1 is not valid JSON") and "\n" not in err
    assert job_rows.list_jobs(open_db(db_path), kind="eval")[0]["state"] == "failed"


def test_background_evaluation_job_reports_progress_and_stores_metrics(tmp_path, tiny_encoder, db_path):
    folder = write_beir(tmp_path / "toy")
    open_db(db_path)
    job_id = launch_evaluation(db_path, EvalSettings(model=tiny_encoder, beir=str(folder)))
    db = open_db(db_path)
    deadline = time.time() + 120
    while job_rows.get_job(db, job_id)["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.3)
    job = job_rows.get_job(db, job_id)
    assert job["state"] == "done", job
    assert job["progress"] == 1.0 and job["total"] == 6 + 3
    stored = evaluation_rows.evaluation_for_job(db, job_id)
    assert stored["dataset"] == str(folder.resolve()) and stored["split"] == "test"
    assert job["stats"]["evaluation_id"] == stored["id"]


def make_run_with_heldout(db_path, out_dir, base_model, config_extra=None):
    db = open_db(db_path)
    rows = [
        {"family": "short-long", "language": "English", "instruction": "Given a question, find the answer passage.",
         "query": "what sound does a cat make", "positive": "Cats purr and meow.", "negative": "Dogs bark loudly."},
        {"family": "short-long", "language": "English", "instruction": "Given a question, find the answer passage.",
         "query": "how do proteins fold", "positive": "Proteins fold into shapes.", "negative": None},
        {"family": "sts", "language": "English", "instruction": "Retrieve semantically similar text.",
         "query": "A volcano erupted.", "positive": "Magma burst out of the volcano.",
         "negative": "Cats purr and meow."},  # another query's positive: one shared document
    ]
    ids = insert_examples(db, rows).ids
    config = {"heldout_ids": ids, **(config_extra or {})}
    cursor = db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) "
                        "VALUES ('r', ?, ?, ?, 'done', '2026-01-01')", [base_model, json.dumps(config), out_dir])
    return cursor.lastrowid, ids


def test_heldout_evaluation_stores_the_run_and_its_base_model(db_path, tiny_encoder, other_encoder):
    run_id, ids = make_run_with_heldout(db_path, tiny_encoder, other_encoder)
    metrics = evaluate_run_heldout(db_path, run_id)
    assert set(metrics) >= {"ndcg_at_10", "mrr_at_10", "recall_at_10", "recall_at_100", "map_at_100"}
    stored = evaluation_rows.list_evaluations(open_db(db_path), run_id=run_id)
    assert {row["model"] for row in stored} == {tiny_encoder, other_encoder}
    tuned = next(row for row in stored if row["model"] == tiny_encoder)
    assert tuned["metrics"] == metrics and tuned["dataset"] == f"heldout:run-{run_id}"
    assert tuned["details"]["n_queries"] == 3 and tuned["details"]["n_docs"] == 4  # 3 positives + 1 new negative
    assert tuned["details"]["instruction_source"] == "per query" and tuned["details"]["role"] == "fine-tuned"
    base = next(row for row in stored if row["model"] == other_encoder)
    assert base["details"]["instruction_source"] == "none" and base["details"]["role"] == "base"


def test_heldout_set_queries_carry_their_instructions(db_path, tiny_encoder):
    from studio.evaluation.heldout import heldout_dataset

    run_id, ids = make_run_with_heldout(db_path, tiny_encoder, "minilm")
    dataset = heldout_dataset(open_db(db_path), run_id)
    assert dataset.instructions[str(ids[2])] == "Retrieve semantically similar text."
    positive_of_first = dataset.qrels[str(ids[0])]
    assert dataset.doc_texts[dataset.doc_ids.index(next(iter(positive_of_first)))] == "Cats purr and meow."


def test_a_run_without_heldout_examples_is_skipped(db_path, tiny_encoder):
    db = open_db(db_path)
    cursor = db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) "
                        "VALUES ('r', 'minilm', '{}', ?, 'done', '2026-01-01')", [tiny_encoder])
    assert evaluate_run_heldout(db_path, cursor.lastrowid) == {}
    assert evaluation_rows.list_evaluations(db) == []


def test_eval_command_on_a_runs_heldout_set_uses_its_instructions(db_path, tiny_encoder, other_encoder, capsys):
    run_id, _ = make_run_with_heldout(db_path, tiny_encoder, other_encoder)
    assert main(["eval", "--model", tiny_encoder, "--heldout-run", str(run_id), "--json", "--db", str(db_path)]) == 0
    printed = json.loads(capsys.readouterr().out.strip())
    assert printed["dataset"] == f"heldout:run-{run_id}" and printed["queries"] == 3
    stored = evaluation_rows.get_evaluation(open_db(db_path), printed["evaluation_id"])
    assert stored["run_id"] == run_id and stored["details"]["instruction_source"] == "per query"
    assert main(["eval", "--model", tiny_encoder, "--heldout-run", "999", "--db", str(db_path)]) == 2
    assert "training run 999 does not exist" in capsys.readouterr().err


def test_a_document_with_the_query_id_is_left_out_of_its_ranking_unless_asked(tmp_path, tiny_encoder, db_path,
                                                                              capsys):
    # As in ArguAna: each query is itself a corpus document, which would otherwise rank first.
    docs = {"a1": ("", "Cats purr when they are content."), "a2": ("", "Dogs bark at strangers."),
            "a3": ("", "Cats purr when they are content, say owners.")}
    folder = write_beir(tmp_path / "arguana-like", docs=docs,
                        queries={"a1": "Cats purr when they are content.", "a2": "Dogs bark at strangers."},
                        qrels={"test": [("a1", "a3", 1), ("a2", "a3", 0)]})
    args = ["eval", "--model", tiny_encoder, "--beir", str(folder), "--json", "--db", str(db_path)]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out.strip())
    assert printed["excluded_identical_ids"] == 2
    stored = evaluation_rows.get_evaluation(open_db(db_path), printed["evaluation_id"])
    for query_id in ("a1", "a2"):
        assert query_id not in [doc for doc, _ in stored["per_query"][query_id]["top"]]
    assert stored["per_query"]["a1"]["recall_at_1"] == 1.0  # its one relevant document moves up to first
    assert main(args + ["--keep-identical-ids"]) == 0
    kept = json.loads(capsys.readouterr().out.strip())
    assert kept["excluded_identical_ids"] == 0
    top = evaluation_rows.get_evaluation(open_db(db_path), kept["evaluation_id"])["per_query"]["a1"]["top"]
    assert top[0][0] == "a1"  # the query's own text is its own best match


def test_queries_get_the_models_saved_prompt_unless_told_otherwise(tmp_path, tiny_encoder, db_path, capsys):
    import shutil

    model = shutil.copytree(tiny_encoder, tmp_path / "with-prompt")
    (model / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "Instruct: Find the animal fact\nQuery: ", "document": ""}}))
    folder = write_beir(tmp_path / "toy")

    def evaluated(*flags):
        assert main(["eval", "--model", str(model), "--beir", str(folder), "--json", "--db", str(db_path), *flags]) == 0
        printed = json.loads(capsys.readouterr().out.strip())
        return printed["query_instruction"], printed["instruction_source"], printed["ndcg_at_10"]

    saved = evaluated()
    assert saved[:2] == ("Find the animal fact", "saved prompt")
    assert evaluated("--instruction", "Find the rock fact")[:2] == ("Find the rock fact", "given")
    assert evaluated("--no-instruction")[:2] == (None, "none")
    # The saved prompt is really written before each query: the same text typed gives the same figures.
    assert evaluated("--instruction", "Find the animal fact")[2] == saved[2]
