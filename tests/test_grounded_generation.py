"""Grounded generation over the fake OpenAI server: queries from sampled passages, the passage verbatim
as the positive, provenance, a brainstormed task, failures, and resume after kill -9."""

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter

import pytest

from storage import corpora
from storage import jobs as job_rows
from storage.db import open_db
from studio import jobs
from studio.config import REPO_ROOT
from studio.corpus.importer import add_corpus
from studio.errors import StudioError
from studio.generation.generation_jobs import launch_resume
from studio.generation.grounded import (create_plan, finished_items, launch_grounded, parse_query_types,
                                        load_plan, read_query, run_grounded, sample_passages)
from studio.generation.replies import ReplyError
from studio.jobs import JobContext
from tests.corpus_files import write_beir_corpus
from tests.fake_openai import fake  # noqa: F401 (a fixture)
from tests.waiting import wait_for

SECRET = "sk-grounded-secret-77"


@pytest.fixture
def corpus_db(db_path, tmp_path):
    """Four documents: one long (30 passages), three short (one passage each)."""
    db = open_db(db_path)
    long_text = " ".join(f"tide{i}" for i in range(300))
    add_corpus(db, write_beir_corpus(tmp_path / "corpus.jsonl", [
        ("long", "Tide tables", long_text), ("a", "Moon", "the moon pulls the sea twice a day"),
        ("b", "Wind", "wind makes waves on open water"), ("c", "Reef", "corals build reefs in warm shallow seas")]),
        name="sea", chunk=10, overlap=0)
    return db


def _examples(db):
    return list(db.query("SELECT e.*, p.passage_id FROM examples e LEFT JOIN example_passages p ON p.example_id = e.id"
                         " ORDER BY e.id"))


def test_passages_are_sampled_across_documents(corpus_db):
    corpus_id = corpora.corpus_by_name(corpus_db, "sea")["id"]
    doc_of = {p["id"]: p["doc_id"] for p in corpora.passages_of(corpus_db, corpus_id)}
    chosen = sample_passages(corpus_db, corpus_id, 8, random.Random(3))
    counts = Counter(doc_of[i] for i in chosen)
    assert counts == {"long": 5, "a": 1, "b": 1, "c": 1} and len(set(chosen)) == 8
    with pytest.raises(StudioError, match="has 33 passages"):
        sample_passages(corpus_db, corpus_id, 34, random.Random(3))


def test_query_types_parse_with_weights():
    assert parse_query_types("a question:3, a keyword search") == (("a question", 3.0), ("a keyword search", 1.0))
    for bad in ("", "a question:x", "a question:0"):
        with pytest.raises(StudioError):
            parse_query_types(bad)


def test_k_queries_per_passage_with_the_passage_verbatim_as_positive(corpus_db, db_path, fake):
    settings = fake.settings(api_key=SECRET, price_prompt=1.0, price_completion=2.0)
    job = JobContext.create(db_path, "generate", {"corpus": "sea"})
    plan = create_plan(corpus_db, job.job_id, "sea", 4, 3, settings, instruction="Given a sea question, find the answer",
                       query_types="a question:1, a keyword search:1", seed=5)
    stats = run_grounded(db_path, job, plan, settings, concurrency=2)
    assert (stats["done"], stats["inserted"], stats["failed"]) == (4, 12, 0)
    assert stats["cost"] > 0 and stats["prompt_tokens"] > 0
    rows = _examples(corpus_db)
    passages = corpora.get_passages(corpus_db, plan.passage_ids)
    assert len(rows) == 12 and len({row["positive"] for row in rows}) == 4
    for row in rows:
        placeholders = json.loads(row["placeholders"])
        assert row["positive"] == passages[row["passage_id"]]["text"] == passages[placeholders["passage_id"]]["text"]
        assert row["instruction"] == "Given a sea question, find the answer" and row["source"] == "grounded"
        assert placeholders["query_type"] in ("a question", "a keyword search") and row["negative"] is None
    # The default template asks for one query per request, of the type drawn for it, in plain text.
    prompts = [r.body["messages"][0]["content"] for r in fake.chat_requests()]
    assert len(prompts) == 12 and all("response_format" not in r.body for r in fake.chat_requests())
    asked = Counter(p.rsplit("Write ", 1)[1].split(" in English")[0] for p in prompts)
    assert asked == Counter(json.loads(row["placeholders"])["query_type"] for row in rows)
    for pid in plan.passage_ids:
        assert sum(passages[pid]["text"] in p and f"Title: {passages[pid]['title']}" in p for p in prompts) == 3
    assert job_rows.get_job(corpus_db, job.job_id)["state"] == "done"


def test_without_an_instruction_the_task_is_brainstormed_from_passages(corpus_db, db_path, fake):
    settings = fake.settings(api_key=SECRET)
    job = JobContext.create(db_path, "generate", {"corpus": "sea"})
    plan = create_plan(corpus_db, job.job_id, "sea", 2, 1, settings, seed=1)
    first = fake.chat_requests()[0].body["messages"][0]["content"]
    assert "Here are some passages from a document collection" in first and "[1]" in first
    # The fake's first brainstormed task (counter 1) became the plan's instruction.
    assert plan.instruction.startswith("Given a question about ") and " number 1, retrieve passages" in plan.instruction
    stats = run_grounded(db_path, job, plan, settings)
    assert stats["inserted"] == 2
    assert {row["instruction"] for row in _examples(corpus_db)} == {plan.instruction}


def test_an_invalid_reply_is_asked_again_once_then_recorded_as_failed(corpus_db, db_path, fake):
    settings = fake.settings(api_key=SECRET)
    job = JobContext.create(db_path, "generate", {"corpus": "sea"})
    plan = create_plan(corpus_db, job.job_id, "sea", 2, 2, settings, instruction="Find it", seed=2)
    # Two passages, two queries each, asked one by one: the first query's reply is blank twice (it fails),
    # the second's once (asked again, it is used); the second passage's replies are all good.
    fake.script("malformed", "malformed", "malformed")
    stats = run_grounded(db_path, job, plan, settings, concurrency=1)
    assert (stats["done"], stats["failed"], stats["inserted"]) == (2, 1, 3)
    assert corpus_db.execute("SELECT reason FROM generation_failures").fetchall() == [("empty reply",)]
    assert len(fake.chat_requests()) == 6


def test_summarise_first_asks_each_passage_s_summary_and_writes_queries_from_it(corpus_db, db_path, fake):
    settings = fake.settings(api_key=SECRET)
    job = JobContext.create(db_path, "generate", {"corpus": "sea"})
    plan = create_plan(corpus_db, job.job_id, "sea", 2, 2, settings, instruction="Find it", language="German",
                       seed=4, summarise=True)
    assert load_plan(corpus_db, plan.id).summarise
    stats = run_grounded(db_path, job, plan, settings, concurrency=1)
    assert (stats["inserted"], stats["failed"]) == (4, 0)
    prompts = [r.body["messages"][0]["content"] for r in fake.chat_requests()]
    # Per passage: its summary first (in English), then its two queries, written in German from both.
    assert [p.rstrip().endswith("Reply with the summary only.") for p in prompts] == [True, False, False] * 2
    summaries = {}
    for row in _examples(corpus_db):
        summary = json.loads(row["placeholders"])["summary"]
        assert summary.startswith("summary ") and summaries.setdefault(row["passage_id"], summary) == summary
    assert len(set(summaries.values())) == 2
    for n in (1, 2, 4, 5):
        assert "\nSummary: summary " in prompts[n] and "Write " in prompts[n] and " in German that" in prompts[n]


def test_a_passage_whose_summary_stays_unusable_fails_without_asking_its_queries(corpus_db, db_path, fake):
    settings = fake.settings(api_key=SECRET)
    job = JobContext.create(db_path, "generate", {"corpus": "sea"})
    plan = create_plan(corpus_db, job.job_id, "sea", 1, 3, settings, instruction="Find it", seed=4, summarise=True)
    fake.script("malformed", "malformed")
    stats = run_grounded(db_path, job, plan, settings, concurrency=1)
    assert (stats["done"], stats["failed"], stats["inserted"]) == (1, 1, 0) and len(fake.chat_requests()) == 2
    assert corpus_db.execute("SELECT reason FROM generation_failures").fetchall() == [("empty summary",)]


def test_a_passage_whose_every_reply_is_unusable_is_recorded_as_failed(corpus_db, db_path, fake):
    settings = fake.settings(api_key=SECRET)
    job = JobContext.create(db_path, "generate", {"corpus": "sea"})
    plan = create_plan(corpus_db, job.job_id, "sea", 1, 2, settings, instruction="Find it", seed=2)
    fake.script(*["malformed"] * 4)
    stats = run_grounded(db_path, job, plan, settings, concurrency=1)
    assert (stats["done"], stats["failed"], stats["inserted"]) == (1, 2, 0)
    assert corpus_db.execute("SELECT outcome, examples FROM grounded_items").fetchall() == [("failed", 0)]
    assert finished_items(corpus_db, plan.id) == {0}


@pytest.mark.parametrize("reply, query", [
    ("1. What is X?", "What is X?"),
    ('A user of this collection would type: "Mechanical modulation of receptors"', "Mechanical modulation of receptors"),
    ("Query: vitamin d bone", "vitamin d bone"),
    ("Vitamin D: effects on bone", "Vitamin D: effects on bone"),
    ("Here is a claim:\nAspirin lowers the risk of stroke.", "Aspirin lowers the risk of stroke."),
    ('"Beta interferon controls West Nile virus"\nIt does so in mice.', "Beta interferon controls West Nile virus"),
    ('{"query": "a JSON reply is read too"}', "a JSON reply is read too"),
])
def test_a_plain_text_reply_is_read_as_its_query(reply, query):
    assert read_query(reply, "a claim to check") == query


@pytest.mark.parametrize("reply, reason", [("  \n ", "empty reply"), ("A claim to check.", "repeats the query type")])
def test_a_reply_without_a_query_is_refused(reply, reason):
    with pytest.raises(ReplyError, match=reason):
        read_query(reply, "a claim to check")


def test_killed_with_sigkill_then_resumed_loses_nothing_and_duplicates_nothing(corpus_db, db_path, fake, monkeypatch):
    fake.latency = 0.05
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "STUDIO_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = fake.settings(api_key=SECRET)
    job_id = launch_grounded(db_path, settings, "sea", passages=30, per_passage=2, instruction="Find it",
                             concurrency=2)
    job = wait_for(lambda: (row := job_rows.get_job(corpus_db, job_id)) and row["done"] >= 6 and row,
                   what="six passages done")
    assert SECRET not in open(f"/proc/{job['pid']}/cmdline", "rb").read().decode()
    os.killpg(job["pid"], signal.SIGKILL)
    wait_for(lambda: not jobs.is_alive(job["pid"], job["pid_start"]), timeout=10)
    jobs.reap(corpus_db)
    killed = job_rows.get_job(corpus_db, job_id)
    assert killed["state"] == "interrupted" and 6 <= killed["done"] < 30
    resumed_id = launch_resume(db_path, settings, job_id)
    final = wait_for(lambda: (row := job_rows.get_job(corpus_db, resumed_id))["state"] not in ("queued", "running")
                     and row, what="the resumed job to end")
    assert final["state"] == "done", final
    items = corpus_db.execute("SELECT item, job_id FROM grounded_items WHERE plan_id = ?", [job_id]).fetchall()
    assert sorted(item for item, _ in items) == list(range(30))
    assert {owner for _, owner in items} == {job_id, resumed_id}
    rows = _examples(corpus_db)
    assert len(rows) == 60 and len({row["query"] for row in rows}) == 60
    assert Counter(row["passage_id"] for row in rows) == {pid: 2 for pid in {row["passage_id"] for row in rows}}
    assert finished_items(corpus_db, job_id) == set(range(30))
    assert SECRET not in "\n".join(corpus_db.conn.iterdump())


def test_cli_generates_from_a_corpus_and_refuses_bad_input(corpus_db, db_path, fake, monkeypatch):
    env = {**os.environ, "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": SECRET, "STUDIO_LLM_MODEL": "fake-model"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "studio", "generate", *args, "--db", str(db_path)],
                              cwd=REPO_ROOT, capture_output=True, text=True, env=env)

    run = cli("--corpus", "sea", "--passages", "3", "--per-passage", "2", "--instruction", "Find it")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("generated from corpus: 6 new examples from 3 of 3 passages")
    run = cli("--corpus", "sea", "--passages", "2", "--per-passage", "1", "--instruction", "Find it", "--summarise",
              "--language", "German")
    assert run.returncode == 0 and run.stdout.startswith("generated from corpus: 2 new examples"), run.stderr
    assert corpus_db.execute("SELECT summarise, language FROM grounded_plans ORDER BY id DESC LIMIT 1"
                             ).fetchone() == (1, "German")
    for args, reason in ((["--corpus", "nope", "--passages", "1", "--per-passage", "1"], "no corpus named 'nope'"),
                         (["--corpus", "sea", "--passages", "1"], "needs --passages N and --per-passage K"),
                         (["--corpus", "sea", "--passages", "99", "--per-passage", "1", "--instruction", "x"],
                          "has 33 passages")):
        bad = cli(*args)
        assert bad.returncode == 2 and reason in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
