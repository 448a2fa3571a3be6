"""The held-out split: whole tasks on one side, stratified by family, no held-out positive in training,
and a held-out corpus of every document of the run's examples."""

import collections

import pytest

from storage import runs as run_rows
from storage.db import open_db
from studio.training.data import Example, load_examples
from studio.training.split import split_heldout, task_group
from tests.training_data import add_accepted_examples


def _no_task_and_no_positive_on_both_sides(split):
    held_groups = {task_group(e) for e in split.heldout}
    assert held_groups and not held_groups & {task_group(e) for e in split.train}
    held_positives = {e.positive.strip() for e in split.heldout}
    training_texts = {t.strip() for e in split.train for t in (e.positive, e.negative) if t}
    assert not held_positives & training_texts


def test_a_generated_store_splits_by_task_without_leaks(db_path):
    add_accepted_examples(db_path, 80)
    examples = load_examples(open_db(db_path))
    split = split_heldout(examples, 0.25, seed=3)
    _no_task_and_no_positive_on_both_sides(split)
    # 8 short-long tasks (a quarter: 2 held out) and the sts examples, grouped by their one instruction
    # (a family with a single group keeps it for training).
    assert split.groups == 9 and split.heldout_groups == 2 and len(split.heldout) == 16
    assert {e.family for e in split.heldout} == {"short-long"}
    assert split.describe() == "held out 2 of 9 tasks, 16 examples; searched among 133 documents"
    # The same seed splits the same way; another seed differently.
    assert [e.id for e in split_heldout(examples, 0.25, seed=3).heldout] == [e.id for e in split.heldout]
    assert {e.id for e in split_heldout(examples, 0.25, seed=4).heldout} != {e.id for e in split.heldout}


def test_the_demo_set_splits_by_task_stratified_by_family_without_leaks(db_path):
    from studio.demo.loader import load_demo

    load_demo(db_path, status="accepted", with_comparison=False)
    examples = load_examples(open_db(db_path))
    split = split_heldout(examples, 0.25, seed=42)
    _no_task_and_no_positive_on_both_sides(split)
    groups = collections.defaultdict(set)
    for example in examples:
        groups[example.family].add(task_group(example))
    held_families = {e.family for e in split.heldout}
    assert held_families == {family for family, found in groups.items() if len(found) >= 4}


def _example(i, family="short-long", task=None, instruction="find it", positive=None, negative=None):
    return Example(i, family, "English", instruction, f"q{i}", positive or f"p{i}", negative, task)


def test_a_heldout_positive_never_trains_as_a_positive_or_a_negative():
    examples = [_example(i, task=i % 5, positive=f"p{i % 5}-{i}") for i in range(20)]
    first = split_heldout(examples, 0.2, seed=1)
    held, training_task = first.heldout, first.train[0].task_id
    shared = held[0].positive
    # Two more examples of a training task (the same tasks, so the same split): one has a held-out
    # positive as its positive, the other as its negative.
    examples += [_example(100, task=training_task, positive=shared),
                 _example(101, task=training_task, negative=shared)]
    split = split_heldout(examples, 0.2, seed=1)
    assert [e.id for e in split.heldout] == [e.id for e in held]
    assert 100 not in {e.id for e in split.train} and split.left_out == 1
    assert next(e for e in split.train if e.id == 101).negative is None and split.negatives_dropped == 1
    _no_task_and_no_positive_on_both_sides(split)


def test_examples_without_a_task_are_grouped_by_instruction():
    examples = [_example(i, instruction=f"Instruction  {i % 4}") for i in range(12)]
    examples += [_example(20, instruction="instruction 0")]  # the same instruction, spaced and cased otherwise
    split = split_heldout(examples, 0.25, seed=0)
    assert split.groups == 4 and split.heldout_groups == 1
    assert len({" ".join(e.instruction.lower().split()) for e in split.heldout}) == 1


def test_too_few_tasks_hold_out_nothing_and_say_so():
    examples = [_example(i, task=i % 3) for i in range(3)]
    split = split_heldout(examples, 0.1, seed=0)
    assert not split.heldout and split.describe() == "held out 0 of 3 tasks"


def test_heldout_queries_search_every_document_of_the_run(db_path, tmp_path):
    from studio.evaluation.heldout import heldout_dataset

    add_accepted_examples(db_path, 40)
    split = split_heldout(load_examples(open_db(db_path)), 0.1, seed=42)
    db = open_db(db_path)
    run_id = run_rows.create_run(db, None, "r", "minilm", {"heldout_ids": [e.id for e in split.heldout],
                                                          "train_ids": [e.id for e in split.train]},
                                 str(tmp_path), {})
    dataset = heldout_dataset(db, run_id)
    assert len(dataset.queries) == len(split.heldout) == 4
    assert len(dataset.doc_ids) == split.documents == 66  # held-out and training documents, deduplicated
    training_positive = split.train[0].positive
    assert training_positive in dataset.doc_texts


@pytest.mark.parametrize("share", [0.0, 0.1])
def test_the_train_tab_preview_says_how_it_will_split(db_path, share):
    from studio.training.launcher import data_preview

    add_accepted_examples(db_path, 40)
    preview = data_preview(db_path, [], [], share, seed=42)
    if share:
        assert preview["split"] == "held out 1 of 9 tasks, 4 examples; searched among 66 documents"
    else:
        assert preview["heldout"] == 0 and preview["split"] == "held out 0 of 9 tasks"
    assert preview["query_instruction"].startswith("Retrieve documents that answer questions of kind")
