"""More like the queries a model lost: the weakest queries of two stored evaluations, their passages'
neighbours in the corpus (never from a held-out document), grounded generation for exactly those
passages, and `generate --like-weak` / `--passage-ids` against the fake OpenAI server."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from storage import corpora
from storage.db import now, open_db
from storage.evaluations import insert_evaluation
from storage.examples import insert_examples
from studio.config import REPO_ROOT
from studio.corpus import weak_spots
from studio.corpus.importer import add_corpus
from studio.errors import StudioError
from studio.evaluation.runner import loaded_model
from studio.generation.grounded import create_plan, load_plan, run_grounded
from studio.jobs import JobContext
from tests.corpus_files import TOPICS, write_beir_corpus
from tests.fake_openai import fake  # noqa: F401 (a fixture)

SECRET = "sk-weak-spots-secret-5"
INSTRUCTION = "Given a question about a hobby or science topic, find the passage"
HELD_OUT = ("volcano", "chess", "bread", "reef")   # the set's queries
# A loses nothing anywhere; B loses most on reef, then volcano, a little on chess, not on bread.
SCORES_B = {"volcano": 0.2, "chess": 0.9, "bread": 1.0, "reef": 0.0}


@pytest.fixture
def weak_db(db_path, tmp_path):
    """Ten two-passage documents; one example per document's first passage (all linked as grounded
    generation links them, but reef's, which is found by its text); a run that held out four of them
    (and jazz's, which is not in the evaluated set); A and B evaluated on the run's held-out set."""
    db = open_db(db_path)
    add_corpus(db, write_beir_corpus(tmp_path / "corpus.jsonl", [(name, name, text) for name, text in TOPICS.items()]),
               name="topics", chunk=8, overlap=1)
    corpus_id = corpora.corpus_by_name(db, "topics")["id"]
    passages = corpora.passages_of(db, corpus_id)
    first = {p["doc_id"]: p for p in passages if p["position"] == 0}
    names = list(TOPICS)
    ids = insert_examples(db, [{"family": "short-long", "language": "English", "instruction": INSTRUCTION,
                                "query": f"tell me about {name}", "positive": first[name]["text"], "negative": None,
                                "status": "accepted", "source": "grounded"} for name in names]).ids
    example_of = dict(zip(names, ids))
    db.conn.executemany("INSERT INTO example_passages (example_id, corpus_id, passage_id) VALUES (?, ?, ?)",
                        [[example_of[name], corpus_id, first[name]["id"]] for name in names if name != "reef"])
    run_dir = tmp_path / "runs" / "gone"     # B's folder was removed: its model cannot be loaded
    held = [example_of[name] for name in HELD_OUT]
    db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
               ["weak", "minilm", json.dumps({"heldout_ids": held + [example_of["jazz"]]}), str(run_dir), "done",
                now()])
    evaluations = {}
    for side, model in (("A", "minilm"), ("B", str(run_dir))):
        per_query = {str(example_of[name]): {"ndcg_at_10": 1.0 if side == "A" else SCORES_B[name], "top": []}
                     for name in HELD_OUT}
        evaluations[side] = insert_evaluation(db, model=model, dataset="heldout:run-1", split="heldout",
                                              metrics={"ndcg_at_10": 0.5}, per_query=per_query, details={})
    return db, passages, example_of, evaluations


def _nearest(passages, rows, k, excluded_docs):
    """The neighbours worked out by brute force with MiniLM, independently of the module."""
    texts = [p["text"] for p in passages]
    vectors = loaded_model("minilm").encode_documents(texts)
    taken, chosen = set(rows), []
    for row in rows:
        scores = vectors @ vectors[row]
        order = [i for i in np.argsort(-scores, kind="stable")
                 if passages[i]["doc_id"] not in excluded_docs and i not in taken][:k]
        taken.update(order)
        chosen += [passages[i]["id"] for i in order]
    return chosen


def test_the_worst_queries_give_their_passages_nearest_neighbours_outside_held_out_documents(weak_db):
    db, passages, example_of, evaluations = weak_db
    found = weak_spots.find(db, evaluations["A"], evaluations["B"], n=2, k=3)
    assert [q.query_id for q in found.queries] == [str(example_of["reef"]), str(example_of["volcano"])]
    assert found.losing == 3 and found.total == 4 and found.corpus["name"] == "topics"
    by_id = {p["id"]: p for p in passages}
    assert [by_id[i]["doc_id"] for i in found.weak_passage_ids] == ["reef", "volcano"]   # reef's found by its text
    excluded = {"volcano", "chess", "bread", "reef", "jazz"}   # the set's documents and B's run's held-out jazz
    assert found.held_out_documents == 5
    assert not {by_id[i]["doc_id"] for i in found.passage_ids} & excluded
    rows = [passages.index(by_id[i]) for i in found.weak_passage_ids]
    assert found.passage_ids == _nearest(passages, rows, 3, excluded) and len(set(found.passage_ids)) == 6
    # B's folder is gone, so A's vectors (MiniLM) found them, and the description says so.
    assert found.side == "A" and found.model == "minilm" and found.instruction == INSTRUCTION
    text = found.describe()
    assert "B scores below A on 3 of 4 queries" in text and "could not be loaded" in text
    assert "encoded with A's model" in text
    assert "came from the cache" in weak_spots.find(db, evaluations["A"], evaluations["B"], n=2, k=3).describe()


def test_b_s_own_vectors_are_used_when_its_model_loads_and_a_corpus_set_is_named_by_the_corpus(weak_db):
    db, passages, example_of, evaluations = weak_db
    per_query = {str(example_of[name]): {"ndcg_at_10": score} for name, score in SCORES_B.items()}
    ids = [insert_evaluation(db, model=model, dataset="corpus:topics", split="heldout", metrics={},
                             per_query={q: {"ndcg_at_10": 1.0} for q in per_query} if model == "base" else per_query,
                             details={}) for model in ("base", "minilm")]
    found = weak_spots.find(db, ids[0], ids[1], n=1, k=2)
    assert found.side == "B" and found.model == "minilm" and found.corpus["name"] == "topics"
    assert [q.query_id for q in found.queries] == [str(example_of["reef"])]
    # Only the set's documents are held out here: B (a base model) has no run of its own.
    assert found.held_out_documents == 4 and len(found.passage_ids) == 2


def test_refusals_are_one_sentence(weak_db, tmp_path):
    db, passages, example_of, evaluations = weak_db
    a, b = evaluations["A"], evaluations["B"]
    even = insert_evaluation(db, model="other", dataset="heldout:run-1", split="heldout", metrics={},
                             per_query={str(example_of[name]): {"ndcg_at_10": 1.0} for name in HELD_OUT})
    beir = [insert_evaluation(db, model=m, dataset=str(tmp_path / "beir"), split="test", metrics={},
                              per_query={"q1": {"ndcg_at_10": 1.0}}) for m in ("minilm", "other")]
    for args, reason in (((a, even), "B scores at least as well as A on every query"),
                         ((a, beir[1]), "are on different datasets"),
                         (tuple(beir), "needs a corpus's held-out queries"),
                         ((a, 999), "there is no evaluation 999"),
                         ((a, b, 0), "must be between 1 and 500"),
                         ((a, b, 10, 51), r"neighbours \(--neighbours\) between 1 and 50")):
        with pytest.raises(StudioError, match=reason):
            weak_spots.find(db, *args)
    assert weak_spots.offer(db, *beir).available is False
    assert "Offered on a corpus's held-out queries only" in weak_spots.offer(db, *beir).note
    assert not weak_spots.offer(db, a, even).available
    offered = weak_spots.offer(db, a, b)
    assert offered.available and "B loses to A on 3 of 4 queries of corpus 'topics'" in offered.note
    with pytest.raises(StudioError, match="two evaluation ids as A:B"):
        weak_spots.parse_pair("3-4")


def test_a_plan_for_given_passages_writes_queries_for_exactly_those(weak_db, db_path, fake):
    db, passages, _, _ = weak_db
    settings = fake.settings(api_key=SECRET)
    chosen = [passages[5]["id"], passages[2]["id"], passages[5]["id"]]
    job = JobContext.create(db_path, "generate", {"corpus": "topics"})
    plan = create_plan(db, job.job_id, "topics", None, 2, settings, instruction="Find it", passage_ids=chosen, seed=3)
    assert plan.passage_ids == (passages[5]["id"], passages[2]["id"]) and load_plan(db, plan.id) == plan
    stats = run_grounded(db_path, job, plan, settings)
    assert (stats["done"], stats["inserted"]) == (2, 4)
    linked = db.execute("SELECT passage_id, COUNT(*) FROM example_passages e JOIN examples x ON x.id = e.example_id"
                        " WHERE x.job_id = ? GROUP BY passage_id", [job.job_id]).fetchall()
    assert dict(linked) == {passages[5]["id"]: 2, passages[2]["id"]: 2}
    for bad, reason in (([], "at least one passage id"),
                        ([passages[0]["id"], 99999], "passage 99999 is not in corpus")):
        with pytest.raises(StudioError, match=reason):
            create_plan(db, job.job_id + 1, "topics", None, 2, settings, instruction="x", passage_ids=bad)
    with pytest.raises(StudioError, match="not both"):
        create_plan(db, job.job_id + 1, "topics", 3, 2, settings, instruction="x", passage_ids=chosen)


def _cli(db_path, fake, *args):
    env = {**os.environ, "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": SECRET, "STUDIO_LLM_MODEL": "fake-model"}
    return subprocess.run([sys.executable, "-m", "studio", "generate", *args, "--db", str(db_path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=env)


def test_cli_passage_ids_and_its_refusals(weak_db, db_path, fake, tmp_path):
    db, passages, _, _ = weak_db
    other = add_corpus(db, write_beir_corpus(tmp_path / "other.jsonl", [("x", "X", "a passage of another corpus")]),
                       name="other").name
    stranger = corpora.passages_of(db, corpora.corpus_by_name(db, other)["id"])[0]["id"]
    ids = f"{passages[1]['id']},{passages[7]['id']}"
    run = _cli(db_path, fake, "--corpus", "topics", "--passage-ids", ids, "--per-passage", "2", "--instruction", "Find")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("generated from corpus: 4 new examples from 2 of 2 passages")
    for args, reason in ((["--passage-ids", f"{passages[1]['id']},{stranger}"], f"passage {stranger} is not in corpus"),
                         (["--passage-ids", "1,x"], "passage ids separated by commas"),
                         (["--passage-ids", ids, "--passages", "3"], "not both")):
        bad = _cli(db_path, fake, "--corpus", "topics", "--per-passage", "1", "--instruction", "x", *args)
        assert bad.returncode == 2 and reason in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_cli_like_weak_starts_grounded_generation_for_the_neighbours(weak_db, db_path, fake):
    db, _, _, evaluations = weak_db
    pair = f"{evaluations['A']}:{evaluations['B']}"
    # Cancelled while the corpus is encoded for the first time: the job ends cancelled, nothing is generated.
    waiting = JobContext.create(db_path, "generate", {"corpus": "topics", "like_weak": pair})
    db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", [waiting.job_id])
    run = _cli(db_path, fake, "--like-weak", pair, "--per-passage", "2", "--job-id", str(waiting.job_id))
    assert run.returncode == 0 and "cancelled while encoding corpus 'topics'" in run.stdout, run.stderr
    assert db.execute("SELECT state FROM jobs WHERE id = ?", [waiting.job_id]).fetchone()[0] == "cancelled"
    assert not fake.chat_requests()
    run = _cli(db_path, fake, "--like-weak", pair, "--per-passage", "2", "--weak-queries", "2", "--neighbours", "2")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith("B scores below A on 3 of 4 queries; the 2 where it loses most")
    assert lines[1].startswith("generated from corpus: 8 new examples from 4 of 4 passages")
    expected = weak_spots.find(db, evaluations["A"], evaluations["B"], n=2, k=2)
    job = db.execute("SELECT id, args FROM jobs WHERE kind = 'generate' ORDER BY id DESC LIMIT 1").fetchone()
    assert json.loads(job[1])["like_weak"] == pair
    plan = load_plan(db, job[0])
    assert list(plan.passage_ids) == expected.passage_ids and plan.instruction == INSTRUCTION
    # A job stopped while it was still choosing its passages has no plan to resume: it says so.
    stopped = JobContext.create(db_path, "generate", {"corpus": "topics", "like_weak": pair})
    db.execute("UPDATE jobs SET state = 'interrupted' WHERE id = ?", [stopped.job_id])
    for args, reason in ((["--resume", str(stopped.job_id)], "stopped before it had chosen its passages"),
                         (["--like-weak", "1-2"], "two evaluation ids as A:B"),
                         (["--like-weak", pair], "needs --per-passage K"),
                         (["--like-weak", pair, "--per-passage", "1", "--passages", "2"],
                          "chooses the passages itself"),
                         (["--like-weak", f"{evaluations['A']}:77", "--per-passage", "1"], "no evaluation 77")):
        bad = _cli(db_path, fake, *args)
        assert bad.returncode == 2 and reason in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
