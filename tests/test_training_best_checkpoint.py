"""Held-out scoring during training: step 0 (the base model) and every N steps; the best step is exported,
and a run that never beats its base model says so and ships the base weights."""

import json

import numpy as np
import pytest

from storage import runs as run_rows
from storage.db import open_db
from studio.training.config import TrainConfig
from studio.training.heldout_score import NO_BETTER, Scoreboard, eval_steps
from studio.training.trainer import train
from tests.training_data import add_accepted_examples

TEXTS = ["what about cats number 3", "a document explaining bees in detail, part 2 with more words"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _absurd_run(db_path, out, base="minilm", keep="best", query_instruction=None):
    add_accepted_examples(db_path, 40)
    config = TrainConfig(base_model=base, out_dir=str(out), batch_size=8, max_steps=3, lr=1.0, warmup_steps=0,
                         max_length=32, heldout_share=0.2, eval_every=1, keep=keep, seed=5,
                         query_instruction=query_instruction)
    return train(config, db_path, log=lambda *_: None)


def test_a_run_with_an_absurd_learning_rate_ends_no_better_than_the_base_and_exports_the_base_weights(
        db_path, tmp_path):
    from studio.embedding import load_model
    from studio.ui.train_tab import run_details

    out = tmp_path / "absurd"
    summary = _absurd_run(db_path, out)
    db = open_db(db_path)
    run = run_rows.get_run(db, summary["run_id"])
    curve = run_rows.heldout_curve(db, run["id"])
    assert [point["step"] for point in curve] == [0, 1, 2, 3]
    assert all(point["ndcg_at_10"] < curve[0]["ndcg_at_10"] for point in curve[1:])
    outcome = run["outcome"]
    assert outcome["verdict"] == NO_BETTER and outcome["kept_step"] == 0 and outcome["better_than_base"] is False
    assert outcome["base_ndcg_at_10"] == curve[0]["ndcg_at_10"]

    exported = load_model(str(out), device="cpu").encode_documents(TEXTS)
    base = load_model("minilm", device="cpu", max_length=32).encode_documents(TEXTS)
    assert np.sum(exported * base, axis=1).min() > 0.9999  # the step-0 weights
    card = (out / "README.md").read_text()
    assert f"This model is {NO_BETTER}" in card and "base model's weights (step 0)" in card
    assert NO_BETTER in run_details(db_path, run["id"])[0]
    # The saved query prompt is a retrieval task's instruction, although the sts one is the most frequent.
    prompt = json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]["query"]
    assert prompt.startswith("Instruct: Retrieve documents that answer questions of kind") and prompt.endswith("Query: ")


def test_keep_last_exports_the_final_weights_and_still_says_how_they_compare(db_path, tmp_path):
    from studio.embedding import load_model
    from tests.tiny_models import build_tiny_encoder

    tiny = build_tiny_encoder(tmp_path / "tiny")
    out = tmp_path / "last"
    summary = _absurd_run(db_path, out, base=str(tiny), keep="last", query_instruction="Find the passage")
    outcome = run_rows.get_run(open_db(db_path), summary["run_id"])["outcome"]
    assert outcome["kept"] == "last" and outcome["kept_step"] == 3 and len(outcome["curve"]) == 4
    exported = load_model(str(out), device="cpu").encode_documents(TEXTS)
    base = load_model(str(tiny), device="cpu").encode_documents(TEXTS)
    assert np.sum(exported * base, axis=1).min() < 0.99
    assert "the last step, as asked" in (out / "README.md").read_text()
    prompt = json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]["query"]
    assert prompt == "Instruct: Find the passage\nQuery: "


def test_the_best_step_wins_and_ties_keep_the_earlier_one():
    import torch

    model = torch.nn.Linear(2, 2)
    board = Scoreboard()
    for step, score in [(0, 0.5), (2, 0.6), (4, 0.6), (6, 0.55)]:
        with torch.no_grad():
            model.weight.fill_(step)
        board.record(step, score, model)
    outcome = board.outcome("best", 6)
    assert outcome["kept_step"] == 2 and outcome["better_than_base"] and float(board.best_weights["weight"][0, 0]) == 2
    assert outcome["verdict"].startswith("better than the base model: held-out nDCG@10 0.5000 → 0.6000 at step 2")
    assert json.loads(json.dumps(outcome)) == outcome  # stored on the run as JSON


def test_a_run_that_only_beats_the_instructed_base_is_no_better_than_the_base_used_bare():
    import torch

    model = torch.nn.Linear(2, 2)
    board = Scoreboard(base_without_instructions=0.7)
    for step, score in [(0, 0.5), (2, 0.65)]:
        board.record(step, score, model)
    outcome = board.outcome("best", 2)
    assert not outcome["better_than_base"] and outcome["verdict"] == NO_BETTER
    assert outcome["base_ndcg_at_10"] == 0.7 and outcome["base_without_instructions_ndcg_at_10"] == 0.7
    # the base used bare beat every step, so it is what ships: step 0's weights, no query prompt
    assert outcome["bare_queries"] and outcome["kept_step"] == 0 and outcome["kept_ndcg_at_10"] == 0.7
    assert board.kept_weights(outcome) is board.base_weights is not board.best_weights
    assert not board.outcome("last", 2)["bare_queries"] and board.outcome("last", 2)["kept_step"] == 2
    board.base_without_instructions = 0.6
    better = board.outcome("best", 2)
    assert better["verdict"].startswith("better than the base model: held-out nDCG@10 0.6000 → 0.6500")
    assert not better["bare_queries"] and better["kept_step"] == 2
    # a base model that searched no better bare keeps no second copy of its weights
    plain = Scoreboard(base_without_instructions=0.4)
    plain.record(0, 0.5, model)
    assert plain.base_weights is None and not plain.outcome("best", 0)["bare_queries"]


def test_a_model_shipped_bare_saves_no_query_prompt_and_its_card_and_evaluation_say_so(tmp_path):
    from studio.embedding import load_model
    from studio.evaluation.runner import run_uses_instructions
    from studio.training.export import export_model
    from tests.tiny_models import build_tiny_encoder

    model = load_model(str(build_tiny_encoder(tmp_path / "tiny")), device="cpu")
    outcome = {"evaluated": True, "verdict": NO_BETTER, "better_than_base": False, "kept": "best", "kept_step": 0,
               "base_ndcg_at_10": 0.7, "base_without_instructions_ndcg_at_10": 0.7, "kept_ndcg_at_10": 0.7,
               "bare_queries": True, "curve": [[0, 0.5], [2, 0.65]]}
    out = export_model(model, tmp_path / "out", "tiny", {"temperature": 0.02}, {}, {}, "Find the fact", outcome)
    assert json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]["query"] == ""
    card = (out / "README.md").read_text()
    assert "searched the held-out queries better bare (0.7000) than with their instructions (0.5000)" in card
    assert "with no query prompt" in card and "Instruct: Find the fact" not in card
    assert not run_uses_instructions({"use_instructions": True}, outcome)
    assert run_uses_instructions({}, {**outcome, "bare_queries": False})


def test_evaluation_steps_default_to_every_tenth_of_the_run_and_need_held_out_examples():
    assert eval_steps(None, 100, True) == {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
    assert eval_steps(3, 7, True) == {0, 3, 6, 7}
    assert eval_steps(None, 100, False) == set() and eval_steps(0, 100, True) == set()


def test_the_default_query_instruction_is_a_retrieval_one_unless_there_is_none():
    from studio.training.data import Example, default_query_instruction

    def rows(family, instruction, n):
        return [Example(i, family, "English", instruction, "q", "p", None) for i in range(n)]

    mixed = rows("sts", "Retrieve semantically similar text.", 9) + rows("short-long", "Find answers", 2) + \
        rows("long-long", "Find similar papers", 3) + rows("bitext", "Retrieve parallel sentences.", 9)
    assert default_query_instruction(mixed) == "Find similar papers"
    assert default_query_instruction(rows("bitext", "Retrieve parallel sentences.", 2)) == \
        "Retrieve parallel sentences."
    assert default_query_instruction(rows("short-long", " ", 2)) is None


def test_a_resumed_run_finds_the_bare_base_score_and_weights_where_it_left_them(tmp_path):
    import torch

    from studio.training import checkpoint

    assert checkpoint.read_bare_base(tmp_path) is None
    weights = {"layer.weight": torch.ones(2, 2)}
    checkpoint.save_bare_base(tmp_path, 0.7, weights)
    score, saved = checkpoint.read_bare_base(tmp_path)
    assert score == 0.7 and torch.equal(saved["layer.weight"], weights["layer.weight"])
    checkpoint.save_bare_base(tmp_path, 0.4, None)   # bare did not beat the base with instructions
    assert checkpoint.read_bare_base(tmp_path) == (0.4, None)
