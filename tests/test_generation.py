import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from storage import jobs as job_rows
from storage.db import open_db
from storage.tasks import add_tasks
from studio import jobs
from studio.config import REPO_ROOT
from studio.errors import StudioError
from studio.generation.examples import create_plan, finished_items, run_generation
from studio.generation.generation_jobs import launch_generate, launch_resume, plan_for_job
from studio.jobs import JobContext
from studio.generation.llm import LLMSettings
from tests.fake_openai import FakeOpenAI, fake  # noqa: F401 (a fixture)
from tests.waiting import wait_for

SECRET = "sk-generation-secret-4242"


def settings_for(fake, **options):
    return fake.settings(**{"api_key": SECRET, "price_prompt": 1.0, "price_completion": 2.0, **options})


def seed_tasks(db_path, family="short-long", n=3):
    db = open_db(db_path)
    return add_tasks(db, family, [f"Given a question about topic {i}, retrieve passages that answer it"
                                  for i in range(n)]).ids


def generate(db_path, fake, family="short-long", per_task=2, tasks=None, concurrency=4, seed=7, **options):
    db = open_db(db_path)
    job = JobContext.create(db_path, "generate", {"family": family})
    plan = create_plan(db, job.job_id, family, per_task, tasks, seed=seed)
    stats = run_generation(db_path, job, plan, settings_for(fake, **options), concurrency=concurrency)
    return db, job, plan, stats


def examples(db):
    return list(db.query("SELECT * FROM examples ORDER BY id"))


def test_each_task_gets_k_examples_with_provenance_tokens_and_cost(db_path, fake):
    task_ids = seed_tasks(db_path, n=3)
    db, job, plan, stats = generate(db_path, fake, per_task=2)
    rows = examples(db)
    assert len(rows) == 6 and stats.inserted == 6 and stats.done == plan.total == 6
    assert sorted(row["task_id"] for row in rows) == sorted(task_ids * 2)
    for row in rows:
        assert row["status"] == "pending" and row["family"] == "short-long" and row["job_id"] == job.job_id
        assert row["instruction"].startswith("Given a question about topic")
        assert row["query"] and row["positive"] and row["negative"]
        assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
        assert row["cost"] == pytest.approx((row["prompt_tokens"] + 2 * row["completion_tokens"]) / 1e6)
        placeholders = json.loads(row["placeholders"])
        assert {"query_type", "query_length", "clarity", "num_words", "difficulty", "language", "variant"} <= set(placeholders)
        assert row["language"] == placeholders["language"]
        assert json.loads(row["raw_response"])["user_query"] == row["query"]
    state = job_rows.get_job(db, job.job_id)
    assert state["state"] == "done" and state["done"] == 6 and state["progress"] == 1.0
    assert state["stats"]["prompt_tokens"] == sum(row["prompt_tokens"] for row in rows)
    assert state["stats"]["cost"] == pytest.approx(sum(row["cost"] for row in rows), abs=1e-6)


def test_prompts_mix_variants_and_sample_placeholders_per_example(db_path, fake):
    seed_tasks(db_path, n=4)
    db, *_ = generate(db_path, fake, per_task=10)
    placeholders = [json.loads(row["placeholders"]) for row in examples(db)]
    assert {p["variant"] for p in placeholders} == {"v1", "v2"}
    assert len({(p["num_words"], p["query_length"], p["clarity"], p["language"]) for p in placeholders}) > 15
    prompts = [record.body["messages"][0]["content"] for record in fake.chat_requests()]
    assert len(set(prompts)) == len(prompts) == 40


def test_concurrency_is_bounded(db_path, fake):
    fake.latency = 0.05
    seed_tasks(db_path, n=4)
    _, _, _, stats = generate(db_path, fake, per_task=10, concurrency=8)
    assert stats.inserted == 40
    assert 4 <= fake.max_in_flight <= 8


def test_invalid_reply_is_retried_once_then_recorded_with_reason_and_raw(db_path, fake):
    seed_tasks(db_path, n=1)
    # item 0: malformed then fine; item 1: missing key twice -> failure; item 2: fenced JSON is fine
    fake.script("malformed", "ok", "wrong_shape", "empty_value", "fenced")
    db, job, plan, stats = generate(db_path, fake, per_task=3, concurrency=1)
    assert stats.inserted == 2 and stats.failed == 1 and stats.invalid_retries == 2
    failures = list(db.query("SELECT * FROM generation_failures"))
    assert len(failures) == 1
    assert failures[0]["reason"] == "key 'user_query' is empty" and failures[0]["job_id"] == job.job_id
    assert '"user_query": ""' in failures[0]["raw"]
    assert finished_items(db, plan.id) == {0, 1, 2}  # a recorded failure is finished work
    assert job_rows.get_job(db, job.job_id)["stats"]["failure_samples"][0]["reason"] == "key 'user_query' is empty"


def test_exact_and_normalised_duplicates_are_skipped_and_counted(db_path, fake):
    seed_tasks(db_path, n=1)
    fake.script("ok", "duplicate", "ok")
    db, job, plan, stats = generate(db_path, fake, per_task=3, concurrency=1)
    assert stats.inserted == 2 and stats.duplicates == 1 and len(examples(db)) == 2
    outcomes = dict(db.execute("SELECT item, outcome FROM generation_items").fetchall())
    assert sorted(outcomes.values()) == ["duplicate", "inserted", "inserted"]


def test_one_flush_maps_each_row_to_its_example_or_marks_it_duplicate(db_path):
    """A flush inserts its rows in one call; each item still gets its own example id or 'duplicate'."""
    from storage.examples import insert_examples
    from studio.generation.examples import Outcome, Recorder, Stats
    from tests.example_rows import make_rows

    db = open_db(db_path)
    job = JobContext.create(db_path, "generate", {"family": "short-long"})
    plan = create_plan(db, job.job_id, "sts", per_task=7)
    a, b, stored = make_rows(3, seed=3, family="short-short", negative=None)
    insert_examples(db, [stored])
    folded = dict(a, query=a["query"].upper() + " !")     # a normalised duplicate of a
    rows = [a, dict(stored, positive=stored["positive"] + "."), folded, b, dict(a), dict(b)]
    recorder = Recorder(db, plan, job.job_id, Stats(plan.id, plan.total))
    for item, row in enumerate(rows):
        recorder.add(Outcome(item, row=dict(row, job_id=job.job_id)))
    recorder.add(Outcome(6, reason="missing key 'input'", raw="{}"))
    recorder.flush()
    marks = db.execute("SELECT item, outcome, example_id FROM generation_items ORDER BY item").fetchall()
    assert [kind for _, kind, _ in marks] == ["inserted", "duplicate", "duplicate", "inserted", "duplicate",
                                              "duplicate", "failed"]
    for (item, kind, example_id), row in zip(marks, rows):
        if kind == "inserted":
            assert db.execute("SELECT query, positive FROM examples WHERE id = ?", [example_id]).fetchone() == \
                (row["query"], row["positive"])
        else:
            assert example_id is None
    assert recorder.stats.inserted == 2 and recorder.stats.duplicates == 4 and recorder.stats.failed == 1


def test_transient_faults_are_retried_inside_a_job(db_path, fake):
    seed_tasks(db_path, n=2)
    fake.fault_rates = {"rate_limit": 0.15, "server_error": 0.15, "drop": 0.1}
    db, job, plan, stats = generate(db_path, fake, per_task=10, concurrency=4, max_attempts=10)
    assert stats.inserted == 20 and stats.request_errors == 0
    assert stats.retries > 0 and fake.counts().get("ok", 0) == 20


def test_endpoint_down_fails_the_job_with_advice_and_leaves_items_to_do(db_path):
    seed_tasks(db_path, n=2)
    db = open_db(db_path)
    job = JobContext.create(db_path, "generate", {})
    plan = create_plan(db, job.job_id, "short-long", 5, seed=1)
    settings = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", max_attempts=2, backoff_base=0.01)
    stats = run_generation(db_path, job, plan, settings, concurrency=2)
    row = job_rows.get_job(db, job.job_id)
    assert row["state"] == "failed" and "could not connect" in row["error"] and "resume" in row["error"]
    assert stats.done == 0 and finished_items(db, plan.id) == set()
    # No reply came, and model "m" has no price: the cost is unknown, not $0.
    assert stats.cost_known is False and row["stats"]["cost_known"] is False


def test_a_bad_key_stops_at_once(db_path):
    class Locked(FakeOpenAI):
        async def _answer_chat(self, request):
            from aiohttp import web
            self._log(request, None)
            return web.json_response({"error": {"message": "Incorrect API key"}}, status=401)

    seed_tasks(db_path, n=5)
    with Locked() as locked:
        db, job, plan, stats = generate(db_path, locked, per_task=10, concurrency=2)
        assert len(locked.requests) <= 3
    row = job_rows.get_job(db, job.job_id)
    assert row["state"] == "failed" and "rejected the API key" in row["error"]


def test_sts_needs_no_tasks(db_path, fake):
    db, job, plan, stats = generate(db_path, fake, family="sts", per_task=5)
    rows = examples(db)
    assert len(rows) == 5 and all(row["instruction"] == "Retrieve semantically similar text." for row in rows)
    assert all(row["task_id"] is None for row in rows)


def test_no_active_tasks_is_a_user_error(db_path):
    db = open_db(db_path)
    with pytest.raises(StudioError, match="brainstorm some first"):
        create_plan(db, 1, "short-long", 3)


def test_plan_is_reused_by_a_resumed_job_and_only_remaining_items_run(db_path, fake):
    seed_tasks(db_path, n=2)
    db = open_db(db_path)
    first = JobContext.create(db_path, "generate", {"family": "short-long", "per_task": 3})
    plan = plan_for_job(db, first.job_id, "short-long", 3, None, seed=5)
    with db.conn:  # pretend items 0, 2 and 4 were finished before the job died
        for item in (0, 2, 4):
            db.execute("INSERT INTO generation_items (plan_id, item, job_id, outcome, created_at)"
                       " VALUES (?, ?, ?, 'inserted', 'x')", [plan.id, item, first.job_id])
    job_rows.finish_job(db, first.job_id, "interrupted")
    second = JobContext.create(db_path, "generate", {}, resumed_from=first.job_id)
    assert plan_for_job(db, second.job_id, None, None, None) == plan
    run_generation(db_path, second, plan, settings_for(fake), concurrency=2)
    assert len(fake.chat_requests()) == 3
    assert finished_items(db, plan.id) == set(range(6))


def _settled_count(fake, quiet: float = 0.5, timeout: float = 10.0) -> int:
    """Chat requests the fake has seen, once none is being answered and none has come for `quiet`
    seconds: a request the killed job wrote just before dying can reach the server a moment later."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = len(fake.chat_requests())
        if count != last or fake.in_flight:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return count
        time.sleep(0.05)
    raise AssertionError("the fake endpoint kept receiving requests after the job was killed")


def test_job_killed_with_sigkill_then_resumed_loses_nothing_and_duplicates_nothing(db_path, fake, monkeypatch):
    fake.latency = 0.03
    seed_tasks(db_path, n=10)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "STUDIO_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_for(fake)
    job_id = launch_generate(db_path, settings, "short-long", per_task=12, concurrency=4)
    db = open_db(db_path)
    job = wait_for(lambda: (row := job_rows.get_job(db, job_id)) and row["done"] >= 25 and row)
    # The key travels in the environment only: not in the command line, the job row or the log.
    cmdline = open(f"/proc/{job['pid']}/cmdline", "rb").read().decode()
    assert SECRET not in cmdline and "--job-id" in cmdline
    assert SECRET in open(f"/proc/{job['pid']}/environ", "rb").read().decode()
    os.killpg(job["pid"], signal.SIGKILL)
    wait_for(lambda: not jobs.is_alive(job["pid"], job["pid_start"]), timeout=10)
    jobs.reap(db)
    killed = job_rows.get_job(db, job_id)
    assert killed["state"] == "interrupted"
    assert 25 <= killed["done"] < 120
    before = _settled_count(fake)

    resumed_id = launch_resume(db_path, settings, job_id)
    final = wait_for(lambda: (row := job_rows.get_job(db, resumed_id))["state"] not in ("queued", "running") and row)
    assert final["state"] == "done", final
    assert final["resumed_from"] == job_id and final["done"] == 120

    items = db.execute("SELECT item, job_id FROM generation_items WHERE plan_id = ?", [job_id]).fetchall()
    assert sorted(item for item, _ in items) == list(range(120))          # nothing lost, each once
    first_run = {item for item, owner in items if owner == job_id}
    second_run = {item for item, owner in items if owner == resumed_id}
    assert first_run and second_run and not first_run & second_run
    rows = examples(db)
    assert len(rows) == 120 and len({row["content_hash"] for row in rows}) == 120
    # Exactly the remaining work: the resumed job asked for its items and nothing more. (Answers the
    # first process had not committed yet, in flight or waiting for the next flush, are asked again.)
    assert len(fake.chat_requests()) - before == len(second_run)
    assert before >= len(first_run)
    dump = "\n".join(db.conn.iterdump())
    assert SECRET not in dump
    assert SECRET not in open(jobs.log_path(job_id)).read() + open(jobs.log_path(resumed_id)).read()


def test_cancel_stops_a_running_job_and_keeps_its_work(db_path, fake):
    fake.latency = 0.05
    seed_tasks(db_path, n=10)
    db = open_db(db_path)
    job = JobContext.create(db_path, "generate", {})
    plan = create_plan(db, job.job_id, "short-long", 20, seed=2)
    worker = threading.Thread(target=run_generation, args=(db_path, job, plan, settings_for(fake)),
                              kwargs={"concurrency": 2})
    worker.start()
    wait_for(lambda: job_rows.get_job(db, job.job_id)["done"] >= 4)
    jobs.cancel(db, job.job_id)
    worker.join(30)
    final = job_rows.get_job(db, job.job_id)
    assert final["state"] == "cancelled" and 4 <= final["done"] < 200
    assert len(examples(db)) == final["done"] == len(finished_items(db, plan.id))


def run_cli(db_path, *argv, env=None):
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "studio", *argv, "--db", str(db_path)], capture_output=True,
                          text=True, env=full_env, cwd=str(REPO_ROOT), timeout=120)


def test_cli_brainstorm_generate_and_resume_print_one_line_summaries(db_path, fake):
    env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": SECRET, "STUDIO_LLM_MODEL": "fake-model"}
    done = run_cli(db_path, "brainstorm", "--family", "long-short", "--n", "30", env=env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1 and "brainstormed 30 new long-short tasks" in done.stdout
    done = run_cli(db_path, "generate", "--family", "long-short", "--per-task", "2", "--tasks", "5",
                   "--concurrency", "3", env=env)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "\n" not in line and "generated long-short: 10 new examples" in line and "10 of 10 done" in line
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM examples WHERE family = 'long-short'").fetchone()[0] == 10
    assert [record.body["model"] for record in fake.chat_requests()][-1] == "fake-model"
    job_id = db.execute("SELECT MAX(id) FROM jobs WHERE kind = 'generate'").fetchone()[0]
    requests = len(fake.chat_requests())
    done = run_cli(db_path, "generate", "--resume", str(job_id), env=env)  # a finished job: nothing left
    assert done.returncode == 0, done.stderr
    assert "10 of 10 done" in done.stdout and len(fake.chat_requests()) == requests


def test_cli_bad_input_exits_with_one_line_reason(db_path):
    done = run_cli(db_path, "generate", "--family", "nope", "--per-task", "2")
    assert done.returncode == 2 and done.stderr.startswith("error: unknown family 'nope'")
    assert "Traceback" not in done.stderr
    db = open_db(db_path)
    assert job_rows.list_jobs(db)[0]["state"] == "failed"  # its job row does not stay "running"


def test_cancel_does_not_wait_for_a_hanging_request(db_path, fake):
    seed_tasks(db_path, n=1)
    fake.hang_seconds = 60
    fake.script("ok", "hang", "hang")
    db = open_db(db_path)
    job = JobContext.create(db_path, "generate", {})
    plan = create_plan(db, job.job_id, "short-long", 10, seed=2)
    worker = threading.Thread(target=run_generation, args=(db_path, job, plan, settings_for(fake, timeout=60)),
                              kwargs={"concurrency": 2})
    worker.start()
    wait_for(lambda: len(fake.chat_requests()) >= 3)
    started = time.time()
    jobs.cancel(db, job.job_id)
    worker.join(30)
    assert not worker.is_alive() and time.time() - started < 10
    final = job_rows.get_job(db, job.job_id)
    assert final["state"] == "cancelled" and final["done"] == 1 and finished_items(db, plan.id) == {0}
