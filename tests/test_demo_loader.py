"""The bundled demo set: its shape, its coverage, and loading it into a database."""

import collections

from storage.db import open_db
from studio.demo.loader import (database_is_empty, demo_available, demo_examples, demo_loaded, demo_tasks,
                                load_demo)
from studio.families import FAMILIES, load_families
from studio.languages import language_by_name

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
    result = load_demo(db_path)
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
    load_demo(db_path)
    again = load_demo(db_path)
    assert (again.tasks_added, again.examples_added) == (0, 0)
    assert again.examples_skipped == len(demo_examples())
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM examples").fetchone()[0] == len(demo_examples())
    assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == len(demo_tasks())


def test_demo_can_be_loaded_as_pending_for_curation(db_path):
    load_demo(db_path, status="pending")
    db = open_db(db_path)
    assert {row[0] for row in db.execute("SELECT DISTINCT status FROM examples")} == {"pending"}
