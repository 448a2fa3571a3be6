"""The bundled demo set: its shape, its coverage, and loading it into a database."""

import collections
import json
from pathlib import Path

from storage.db import open_db
from studio.demo.loader import (DemoRows, database_is_empty, demo_rows, remove_demo, demo_available, demo_examples, demo_loaded, demo_tasks,
                                load_demo)
from studio.prompts.families import FAMILIES, load_families
from studio.prompts.languages import language_by_name

FIELDS = {"query", "positive", "negative", "instruction", "family", "language"}


def test_demo_files_ship_with_the_studio():
    assert demo_available()


def test_demo_covers_all_six_families_and_at_least_six_languages():
    examples = demo_examples()
    assert len(examples) >= 150
    families = collections.Counter(row["family"] for row in examples)
    assert set(families) == set(FAMILIES)
    assert all(count >= 10 for count in families.values()), families
    languages = collections.Counter(row["language"] for row in examples)
    assert len(languages) >= 6, languages
    assert languages.most_common(1)[0][0] == "English"


def test_every_demo_example_has_the_jsonl_shape_of_its_family():
    families = load_families()
    tasks = {(task["family"], task["text"]) for task in demo_tasks()}
    for row in demo_examples():
        assert set(row) == FIELDS, row
        family = families[row["family"]]
        assert language_by_name(row["language"]) is not None, row["language"]
        for key in ("query", "positive", "instruction"):
            assert isinstance(row[key], str) and row[key].strip(), (key, row)
        if family.negative_key is None:
            assert row["negative"] is None, row
        else:
            assert isinstance(row["negative"], str) and row["negative"].strip(), row
            assert row["negative"] != row["positive"], row
        if family.instruction:
            assert row["instruction"] == family.instruction
        else:
            assert (row["family"], row["instruction"]) in tasks, row["instruction"]


def test_demo_has_about_eight_tasks_per_brainstorm_family_each_used_by_an_example():
    families = load_families()
    tasks = demo_tasks()
    per_family = collections.Counter(task["family"] for task in tasks)
    assert set(per_family) == {name for name, family in families.items() if family.has_brainstorm}
    assert all(6 <= count <= 10 for count in per_family.values()), per_family
    used = {(row["family"], row["instruction"]) for row in demo_examples()}
    assert {(task["family"], task["text"]) for task in tasks} <= used


def test_long_long_demo_documents_are_long():
    for row in demo_examples():
        if row["family"] == "long-long":
            # Chinese has no spaces, so measure characters rather than words.
            assert len(row["query"]) >= 250 and len(row["positive"]) >= 250, row["query"][:40]


def test_loading_the_demo_stores_tasks_and_examples_labelled_as_demo(db_path):
    assert database_is_empty(db_path)
    result = load_demo(db_path, with_comparison=False)
    examples, tasks = demo_examples(), demo_tasks()
    assert (result.tasks_added, result.examples_added) == (len(tasks), len(examples))
    db = open_db(db_path)
    rows = list(db.query("SELECT family, language, source, status, task_id, negative, instruction FROM examples"))
    assert len(rows) == len(examples)
    assert {row["source"] for row in rows} == {"demo"}
    assert {row["status"] for row in rows} == {"accepted"}
    assert {row["family"] for row in rows} == set(FAMILIES)
    # Examples of brainstormed families point at their task; sts and bitext have none.
    task_text = {row["id"]: row["text"] for row in db.query("SELECT id, text FROM tasks")}
    for row in rows:
        if row["family"] in ("sts", "bitext"):
            assert row["task_id"] is None
        else:
            assert task_text[row["task_id"]] == row["instruction"]
    assert db.execute("SELECT COUNT(*) FROM tasks WHERE source = 'demo'").fetchone()[0] == len(tasks)
    assert demo_loaded(db_path) and not database_is_empty(db_path)


def test_loading_the_demo_twice_adds_nothing(db_path):
    load_demo(db_path, with_comparison=False)
    again = load_demo(db_path, with_comparison=False)
    assert (again.tasks_added, again.examples_added) == (0, 0)
    assert again.examples_skipped == len(demo_examples())
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM examples").fetchone()[0] == len(demo_examples())
    assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == len(demo_tasks())


def test_demo_can_be_loaded_as_pending_for_curation(db_path):
    load_demo(db_path, status="pending", with_comparison=False)
    db = open_db(db_path)
    assert {row[0] for row in db.execute("SELECT DISTINCT status FROM examples")} == {"pending"}


def _comparison() -> dict:
    from studio.demo.loader import COMPARISON_FILE

    return json.loads(COMPARISON_FILE.read_text(encoding="utf-8"))


def test_bundled_comparison_metrics_are_the_means_of_its_per_query_metrics():
    comparison = _comparison()
    assert {e["role"] for e in comparison["evaluations"]} == {"base", "fine-tuned"}
    for evaluation in comparison["evaluations"]:
        per_query = evaluation["per_query"]
        assert set(per_query) == set(comparison["heldout"])
        for metric, value in evaluation["metrics"].items():
            mean = sum(result[metric] for result in per_query.values()) / len(per_query)
            assert abs(mean - value) < 1e-9, metric


def test_demo_load_replays_the_comparison_as_a_finished_run_with_both_evaluations(db_path):
    from studio.evaluation.heldout import heldout_dataset

    comparison = _comparison()
    result = load_demo(db_path)
    assert result.comparison_added
    db = open_db(db_path)
    runs = list(db.query("SELECT * FROM runs"))
    assert len(runs) == 1 and runs[0]["state"] == "done"
    run_id = runs[0]["id"]
    steps = [row[0] for row in db.execute("SELECT step FROM run_metrics WHERE run_id = ? ORDER BY step", [run_id])]
    assert steps == [m["step"] for m in comparison["metrics"]]
    evaluations = list(db.query("SELECT * FROM evaluations WHERE run_id = ?", [run_id]))
    assert len(evaluations) == 2
    assert {e["dataset"] for e in evaluations} == {f"heldout:run-{run_id}"}
    # The held-out set rebuilds from the replayed run, and every stored ranking points into it.
    dataset = heldout_dataset(db, run_id)
    assert len(dataset.queries) == len(comparison["heldout"])
    documents = set(dataset.doc_ids)
    for evaluation in evaluations:
        per_query = json.loads(evaluation["per_query"])
        assert set(per_query) == set(dataset.queries)
        for query_id, ranked in per_query.items():
            assert {doc for doc, _ in ranked["top"]} <= documents
            relevant = next(iter(dataset.qrels[query_id]))
            # A query whose positive ranks first has reciprocal rank 1, and only then.
            assert (ranked["top"][0][0] == relevant) == (ranked["mrr_at_10"] == 1.0)


def test_loading_the_demo_twice_replays_the_comparison_once(db_path):
    load_demo(db_path)
    assert not load_demo(db_path).comparison_added
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 2


def test_comparison_is_skipped_when_it_names_an_example_the_demo_lacks(db_path, tmp_path, monkeypatch):
    # E.g. examples.jsonl edited without rebuilding comparison.json: the rankings would point at nothing.
    from studio.demo import loader

    stale = _comparison()
    stale["heldout"][0] = "0" * 64
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(loader, "COMPARISON_FILE", path)
    result = load_demo(db_path)
    assert result.examples_added == len(demo_examples()) and not result.comparison_added
    assert open_db(db_path).execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_demo_run_model_is_rebuilt_and_reproduces_its_recorded_evaluation(db_path):
    from studio.evaluation.choices import model_choices
    from studio.evaluation.compare import find_evaluation
    from studio.evaluation.instructions import PER_QUERY, QueryInstruction
    from studio.evaluation.settings import EvalSettings
    from studio.evaluation.heldout import heldout_dataset
    from studio.evaluation.runner import evaluate

    load_demo(db_path)
    db = open_db(db_path)
    run = dict(next(iter(db.query("SELECT id, out_dir FROM runs"))))
    assert run["out_dir"] and (Path(run["out_dir"]) / "model.safetensors").is_file()
    assert run["out_dir"] in [value for _, value in model_choices(db)]  # Compare offers it as a model
    spec = f"heldout:run-{run['id']}"
    dataset = heldout_dataset(db, run["id"])
    # Compare finds both recorded evaluations for these very model files, so it shows them at once.
    recorded = {model: find_evaluation(db, EvalSettings.for_dataset(model, spec), dataset)
                for model in ("minilm", run["out_dir"])}
    assert all(recorded.values())
    # And they are true: the rebuilt model scores what the build recorded.
    fresh = evaluate(run["out_dir"], dataset, instruction=QueryInstruction(PER_QUERY))
    for name, value in recorded[run["out_dir"]]["metrics"].items():
        assert abs(fresh.metrics[name] - value) < 1e-3, name


def test_demo_loads_beside_ones_own_rows_and_removing_it_leaves_them(db_path):
    from storage.examples import insert_examples
    from storage.tasks import add_tasks

    db = open_db(db_path)
    add_tasks(db, "short-long", ["Given a recipe question, retrieve a cooking passage that answers it."])
    insert_examples(db, [{"family": "sts", "language": "English", "instruction": "x", "query": "my own query",
                          "positive": "my own positive", "negative": None}])
    load_demo(db_path, with_comparison=True)
    loaded = demo_rows(db_path)
    assert loaded.examples == len(demo_examples()) and loaded.tasks == len(demo_tasks()) and loaded.runs == 1
    removed = remove_demo(db_path)
    assert removed == loaded and not demo_rows(db_path).any
    db = open_db(db_path)
    assert db.execute("SELECT query FROM examples").fetchall() == [("my own query",)]
    assert db.execute("SELECT source FROM tasks").fetchall() == [("brainstorm",)]
    assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM run_metrics").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM examples_fts WHERE examples_fts MATCH 'own'").fetchone()[0] == 1
    assert remove_demo(db_path) == DemoRows(0, 0, 0)
    # Loading again brings all of it back, the run included.
    load_demo(db_path)
    assert demo_rows(db_path) == loaded


def test_a_demo_task_that_ones_own_example_came_from_stays(db_path):
    from storage.examples import insert_examples

    load_demo(db_path, with_comparison=False)
    db = open_db(db_path)
    task_id = db.execute("SELECT id FROM tasks WHERE source = 'demo' LIMIT 1").fetchone()[0]
    insert_examples(db, [{"family": "short-long", "language": "English", "instruction": "x", "query": "generated q",
                          "positive": "generated p", "negative": "generated n", "task_id": task_id}])
    removed = remove_demo(db_path)
    assert removed.tasks == len(demo_tasks()) - 1
    assert open_db(db_path).execute("SELECT id FROM tasks").fetchall() == [(task_id,)]
