import pytest

from storage.db import open_db
from storage.examples import insert_examples
from storage.tasks import (active_task_ids, add_tasks, count_tasks, edit_task, get_task, list_tasks, normalize_task,
                           set_status)
from studio.errors import StudioError


def test_normalisation_folds_case_space_and_punctuation():
    assert normalize_task("  Retrieve, NEWS   about sports! ") == normalize_task("retrieve news about sports")


def test_near_duplicates_are_dropped_per_family(db_path):
    db = open_db(db_path)
    result = add_tasks(db, "short-long", ["Find A.", "find a", "FIND  A!", "Find B", "", "x" * 2000])
    assert (result.inserted, result.duplicates, result.skipped) == (2, 2, 2)
    assert add_tasks(db, "long-short", ["Find A."]).inserted == 1  # another family may say the same
    assert add_tasks(db, "short-long", ["find b?"]).duplicates == 1


def test_limit_stops_after_n_inserted(db_path):
    db = open_db(db_path)
    assert add_tasks(db, "short-long", ["a a", "a a", "b b", "c c"], limit=2).ids == [1, 2]


def test_status_edit_and_counts(db_path):
    db = open_db(db_path)
    ids = add_tasks(db, "short-long", ["Task one", "Task two", "Task three"]).ids
    set_status(db, [ids[0]], "rejected")
    assert active_task_ids(db, "short-long") == ids[1:]
    assert count_tasks(db) == {"short-long": {"active": 2, "rejected": 1}}
    edited = edit_task(db, ids[1], "  Task   two, better ")
    assert edited["text"] == "Task two, better" and edited["source"] == "brainstorm+edited"
    assert edit_task(db, ids[1], "Task two, best")["source"] == "brainstorm+edited"
    with pytest.raises(StudioError, match="already says the same"):
        edit_task(db, ids[1], "task THREE")
    with pytest.raises(StudioError, match="cannot be empty"):
        edit_task(db, ids[1], "  ")
    with pytest.raises(StudioError):
        set_status(db, ids, "deleted")
    assert get_task(db, ids[1])["text"] == "Task two, best"


def test_list_shows_how_many_examples_each_task_has(db_path):
    db = open_db(db_path)
    first, second = add_tasks(db, "short-long", ["Task one", "Task two"]).ids
    insert_examples(db, [{"family": "short-long", "query": f"q{i}", "positive": "p", "negative": "n",
                          "instruction": "Task one", "task_id": first} for i in range(3)])
    counts = {task["id"]: task["examples"] for task in list_tasks(db, "short-long")}
    assert counts == {first: 3, second: 0}
