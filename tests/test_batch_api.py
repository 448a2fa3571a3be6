import json

import pytest

from storage import jobs as job_rows
from storage.db import open_db
from storage.tasks import add_tasks
from studio.generation.batch_api import run_batch_generation
from studio.errors import StudioError
from studio.generation.examples import create_plan, finished_items
from studio.jobs import JobContext
from studio.generation.llm import LLMSettings
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def fake():
    with FakeOpenAI(batch_delay=0.1) as server:
        yield server


def settings_for(fake):
    return fake.settings(api_key="sk-batch", price_prompt=1.0, price_completion=2.0, timeout=120.0)


def start(db_path, n_tasks=3, per_task=4):
    db = open_db(db_path)
    add_tasks(db, "short-long", [f"Given a topic number {i}, retrieve documents about it" for i in range(n_tasks)])
    job = JobContext.create(db_path, "generate", {"batch_api": True})
    plan = create_plan(db, job.job_id, "short-long", per_task, seed=3, mode="batch")
    return db, job, plan


def test_batch_round_trip_uploads_requests_and_ingests_output(db_path, fake):
    db, job, plan = start(db_path)
    stats = run_batch_generation(db_path, job, plan, settings_for(fake), poll=0.05)
    assert stats.inserted == 12 and stats.done == 12
    upload = next(r for r in fake.requests if r.path == "/v1/files")
    assert upload.body["purpose"] == "batch"
    created = next(r for r in fake.requests if r.path == "/v1/batches")
    assert created.body["endpoint"] == "/v1/chat/completions" and created.body["completion_window"] == "24h"
    lines = [json.loads(line) for line in fake._files[created.body["input_file_id"]]["data"].decode().splitlines()]
    assert len(lines) == 12 and len({line["custom_id"] for line in lines}) == 12
    assert all(line["body"]["temperature"] == 1.0 and line["body"]["top_p"] == 1.0 for line in lines)
    rows = list(db.query("SELECT * FROM examples"))
    assert len(rows) == 12 and all(row["prompt_tokens"] > 0 for row in rows)
    # the Batch API bills half price
    assert rows[0]["cost"] == pytest.approx((rows[0]["prompt_tokens"] + 2 * rows[0]["completion_tokens"]) / 2e6)
    job_row = job_rows.get_job(db, job.job_id)
    assert job_row["state"] == "done" and job_row["stats"]["batch"]["ingested"] is True


def test_invalid_batch_replies_get_one_retry_round_then_are_recorded(db_path, fake):
    db, job, plan = start(db_path, n_tasks=1, per_task=4)
    # round 1: items 0..3 -> ok, malformed, wrong_shape, ok; round 2 (items 1, 2) -> ok, malformed
    fake.script("ok", "malformed", "wrong_shape", "ok", "ok", "malformed")
    stats = run_batch_generation(db_path, job, plan, settings_for(fake), poll=0.05)
    assert stats.inserted == 3 and stats.failed == 1 and stats.invalid_retries == 2
    assert len([r for r in fake.requests if r.path == "/v1/batches"]) == 2
    failure = db.execute("SELECT reason, raw FROM generation_failures").fetchone()
    assert failure[0].startswith("not valid JSON") and "unterminated" in failure[1]
    assert finished_items(db, plan.id) == {0, 1, 2, 3}


def test_cancelling_while_polling_cancels_the_batch(db_path, fake):
    fake.batch_delay = 30
    db, job, plan = start(db_path)
    job_rows.request_cancel(db, job.job_id)
    run_batch_generation(db_path, job, plan, settings_for(fake), poll=0.05)
    assert job_rows.get_job(db, job.job_id)["state"] == "cancelled"
    batch_id = job_rows.get_job(db, job.job_id)["stats"]["batch"]["id"]
    assert fake._batches[batch_id]["status"] == "cancelled"


def test_resumed_batch_job_picks_up_the_running_batch_instead_of_resubmitting(db_path, fake, monkeypatch):
    from studio.generation import batch_api

    db, job, plan = start(db_path)
    fake.batch_delay = 0.5

    async def stop_after_submitting(client, batch_id, job_, poll, on_status):
        return None  # as if the process had stopped while the batch ran on at the provider

    with monkeypatch.context() as patch:
        patch.setattr(batch_api, "_wait", stop_after_submitting)
        run_batch_generation(db_path, job, plan, settings_for(fake), poll=0.05)
    submitted = len([r for r in fake.requests if r.path == "/v1/batches"])
    assert submitted == 1
    second = JobContext.create(db_path, "generate", {}, resumed_from=job.job_id)
    stats = run_batch_generation(db_path, second, plan, settings_for(fake), poll=0.05)
    assert len([r for r in fake.requests if r.path == "/v1/batches"]) == 1
    assert stats.inserted == 12 and finished_items(db, plan.id) == set(range(12))


def test_batch_mode_needs_a_real_endpoint(db_path, monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    db, job, plan = start(db_path)
    with pytest.raises(StudioError, match="Batch API needs an OpenAI endpoint"):
        run_batch_generation(db_path, job, plan, LLMSettings.resolve())


def test_failed_batch_requests_come_from_the_error_file_and_are_asked_again(db_path, fake):
    db, job, plan = start(db_path, n_tasks=1, per_task=3)
    fake.script("server_error", "ok", "ok", "ok")  # round 1: item 0 fails; round 2 asks it again
    stats = run_batch_generation(db_path, job, plan, settings_for(fake), poll=0.05)
    assert stats.inserted == 3 and stats.failed == 0
    batches = list(fake._batches.values())
    assert len(batches) == 2 and batches[0]["error_file_id"] and batches[0]["request_counts"]["failed"] == 1
