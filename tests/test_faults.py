"""Faults the studio must survive: a job killed with SIGKILL, and writers racing for the database."""

import json
import os
import signal
import subprocess
import sys
import time

from storage import jobs as job_rows
from storage.db import open_db, transaction
from studio.config import REPO_ROOT
from studio.demo.loader import load_demo
from tests.tiny_models import build_tiny_decoder
from tests.waiting import wait_for


def _log(job_id: int) -> str:
    from studio.jobs import log_path

    path = log_path(job_id)
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def test_training_job_killed_with_sigkill_is_marked_interrupted_and_resumes_to_the_end(db_path, tmp_path):
    from studio.training.config import TrainConfig
    from studio.training.launcher import reconcile, resume_training, start_training

    load_demo(db_path, with_comparison=False)  # 172 accepted examples to train on
    model = build_tiny_decoder(tmp_path / "tiny")
    out = tmp_path / "run"
    steps, every = 30, 3
    config = TrainConfig(base_model=str(model), out_dir=str(out), batch_size=8, max_steps=steps,
                         checkpoint_every=every, heldout_share=0.0, max_length=32)
    job_id = start_training(db_path, config)  # what the Train tab's button calls
    db = open_db(db_path)

    def trained_past_a_checkpoint():
        job = job_rows.get_job(db, job_id)
        assert job["state"] in ("queued", "running"), f"the job ended early: {job}\n{_log(job_id)}"
        row = db.execute("SELECT MAX(step) FROM run_metrics").fetchone()
        return row[0] is not None and row[0] >= every + 2 and (out / "checkpoint" / "state.pt").exists()

    wait_for(trained_past_a_checkpoint, 240, "training to pass its first checkpoint")
    os.kill(job_rows.get_job(db, job_id)["pid"], signal.SIGKILL)

    def marked_interrupted():
        reconcile(db)  # what the Train tab does on every poll
        return job_rows.get_job(db, job_id)["state"] == "interrupted"

    wait_for(marked_interrupted, 30, "the killed job to be marked interrupted")
    assert "resume" in job_rows.get_job(db, job_id)["error"]
    run = dict(next(iter(db.query("SELECT id, state FROM runs"))))
    assert run["state"] == "interrupted"
    reached = db.execute("SELECT MAX(step) FROM run_metrics").fetchone()[0]
    assert reached < steps, "the job finished before it was killed; the test proves nothing"

    resumed = resume_training(db_path, run["id"])
    wait_for(lambda: job_rows.get_job(db, resumed)["state"] not in ("queued", "running"), 300,
          "the resumed job to finish", interval=0.5)
    assert job_rows.get_job(db, resumed)["state"] == "done", _log(resumed)
    assert job_rows.get_job(db, resumed)["resumed_from"] == job_id
    runs = list(db.query("SELECT id, state FROM runs"))
    assert len(runs) == 1 and runs[0]["state"] == "done"  # the same run continued, not a new one
    recorded = [row[0] for row in db.execute("SELECT step FROM run_metrics WHERE run_id = ? ORDER BY step",
                                             [runs[0]["id"]])]
    assert recorded == list(range(1, steps + 1))
    assert (out / "modules.json").exists()  # exported as a sentence-transformers folder


WRITER = """
import sys, time
from storage.db import open_db, transaction
from storage import jobs as job_rows
from storage.examples import insert_examples
db = open_db(sys.argv[1]); job_id = int(sys.argv[2]); n = int(sys.argv[3])
for i in range(n):
    job_rows.update_progress(db, job_id, i + 1, n, f"row {i}")
    insert_examples(db, [{"family": "sts", "language": "English", "instruction": "x", "query": f"job query {i}",
                          "positive": f"job positive {i}", "negative": None}])
    with transaction(db):  # read, then write: the pattern that fails without BEGIN IMMEDIATE
        done = db.execute("SELECT done FROM jobs WHERE id = ?", [job_id]).fetchone()[0]
        db.execute("UPDATE jobs SET message = ? WHERE id = ?", [f"at {done}", job_id])
print("writer ok")
"""


def test_a_job_and_the_ui_writing_at_once_never_see_database_is_locked(db_path):
    load_demo(db_path, with_comparison=False)
    db = open_db(db_path)
    job_id = job_rows.create_job(db, "generate", {})
    rounds = 150
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), str(job_id), str(rounds)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ids = [row[0] for row in db.execute("SELECT id FROM examples ORDER BY id")]
    # What curation does meanwhile: read an example, change its status, record the edit.
    for i in range(rounds):
        example_id = ids[i % len(ids)]
        with transaction(db):
            status = db.execute("SELECT status FROM examples WHERE id = ?", [example_id]).fetchone()[0]
            new = "rejected" if status == "accepted" else "accepted"
            db.execute("UPDATE examples SET status = ? WHERE id = ?", [new, example_id])
            db.execute("INSERT INTO example_history (example_id, at, who, action, before, after)"
                       " VALUES (?, datetime('now'), 'user', 'status', ?, ?)",
                       [example_id, json.dumps({"status": status}), json.dumps({"status": new})])
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0 and "writer ok" in out, err[-2000:]
    assert db.execute("SELECT COUNT(*) FROM example_history").fetchone()[0] == rounds
    assert db.execute("SELECT COUNT(*) FROM examples WHERE query LIKE 'job query %'").fetchone()[0] == rounds
    assert job_rows.get_job(db, job_id)["done"] == rounds


def test_generation_job_through_every_fault_stores_each_reachable_example_exactly_once(db_path, monkeypatch):
    from storage.tasks import add_tasks
    from studio.generation.generation_jobs import launch_generate
    from studio.generation.llm import LLMSettings
    from tests.fake_openai import FakeOpenAI

    monkeypatch.setenv("STUDIO_LLM_TIMEOUT", "1")  # the job process inherits it: a hang must time out, not stall
    db = open_db(db_path)
    add_tasks(db, "short-long", [f"Given a question about subject {i}, retrieve a passage that answers it"
                                 for i in range(4)])
    with FakeOpenAI(hang_seconds=5) as fake:
        fake.script("rate_limit", "ok", "server_error", "hang", "drop", "malformed", "ok", "duplicate")  # each once
        fake.fault_rates = {"rate_limit": 0.1, "server_error": 0.1, "hang": 0.05, "drop": 0.1, "malformed": 0.1,
                            "duplicate": 0.05}
        settings = LLMSettings.resolve(base_url=fake.url, model="fake-model", api_key="sk-faults")
        job_id = launch_generate(db_path, settings, "short-long", per_task=6, concurrency=4)
        wait_for(lambda: job_rows.get_job(db, job_id)["state"] not in ("queued", "running"), 300,
              "the generation job to finish", interval=0.5)
        served = fake.counts()
    job = job_rows.get_job(db, job_id)
    assert job["state"] == "done", (job, _log(job_id))
    assert all(served.get(fault) for fault in ("rate_limit", "server_error", "hang", "drop", "malformed")), served
    items = db.execute("SELECT item, outcome, example_id FROM generation_items WHERE plan_id = ?", [job_id]).fetchall()
    assert sorted(item for item, _, _ in items) == list(range(24))  # every item finished, each once
    inserted = [example_id for _, outcome, example_id in items if outcome == "inserted"]
    stored = [row[0] for row in db.execute("SELECT id FROM examples WHERE job_id = ?", [job_id])]
    assert sorted(inserted) == sorted(stored) and len(set(stored)) == len(stored)
    assert len(stored) >= 18  # faults cost retries, not examples (a duplicate or a thrice-bad reply may)
