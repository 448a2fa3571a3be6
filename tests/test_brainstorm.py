import pytest

from storage.db import open_db
from storage.tasks import list_tasks
from studio.generation.brainstorm import brainstorm
from studio.errors import StudioError
from studio.jobs import JobContext
from studio.generation.llm import LLMError
from tests.fake_openai import FakeOpenAI, fake  # noqa: F401 (a fixture)


def settings_for(fake, **options):
    return fake.settings(**{"api_key": "k", **options})


@pytest.mark.parametrize("style", ["json", "fenced", "numbered", "bulleted"])
def test_brainstorm_stores_tasks_from_every_list_style(db_path, fake, style):
    fake.brainstorm_style = style
    result = brainstorm(db_path, "short-long", 20, settings_for(fake), seed=1)
    assert result.inserted == 20 and result.calls == 1
    tasks = list_tasks(open_db(db_path), "short-long")
    assert len(tasks) == 20 and all(task["status"] == "active" and task["examples"] == 0 for task in tasks)
    assert all(task["text"].startswith("Given a question about") for task in tasks)


def test_brainstorm_asks_about_twenty_per_call_and_keeps_provenance(db_path, fake):
    job = JobContext.create(db_path, "brainstorm", {})
    result = brainstorm(db_path, "long-long", 45, settings_for(fake), job=job, seed=2)
    assert result.inserted == 45 and result.calls == 3
    prompts = [r.body["messages"][0]["content"] for r in fake.chat_requests()]
    assert sum("20" in p for p in prompts) >= 2  # the template's {{ n }} is the per-call count
    db = open_db(db_path)
    row = db.execute("SELECT source, model, raw_response, job_id, template_version_id FROM tasks LIMIT 1").fetchone()
    assert row[0] == "brainstorm" and row[1] == "fake-model" and row[2] and row[3] == job.job_id and row[4]


def test_near_identical_tasks_are_dropped(db_path, fake):
    class Repetitive(FakeOpenAI):
        def brainstorm_text(self):
            return '["Retrieve news about sports.", "retrieve NEWS about sports", "Retrieve  news about sports!",' \
                   ' "Find recipes for a dish"]'

    with Repetitive() as repetitive:
        result = brainstorm(db_path, "short-long", 10, settings_for(repetitive), seed=3)
    # two distinct tasks; every further reply repeats them, so it stops after a few idle rounds
    assert result.inserted == 2 and result.duplicates >= 2
    assert sorted(t["text"] for t in list_tasks(open_db(db_path))) == ["Find recipes for a dish",
                                                                      "Retrieve news about sports."]


def test_unreadable_reply_is_counted_not_fatal(db_path, fake):
    fake.script("malformed")
    result = brainstorm(db_path, "short-short", 20, settings_for(fake), seed=4)
    assert result.invalid_replies == 1 and result.inserted == 20


def test_families_without_brainstorm_and_bad_counts_are_user_errors(db_path, fake):
    with pytest.raises(StudioError, match="needs no tasks"):
        brainstorm(db_path, "sts", 5, settings_for(fake))
    with pytest.raises(StudioError, match="between 1 and"):
        brainstorm(db_path, "short-long", 0, settings_for(fake))


def test_endpoint_failure_keeps_what_was_answered(db_path, fake):
    fake.script("ok", *["server_error"] * 10)
    with pytest.raises(LLMError):
        brainstorm(db_path, "short-long", 40, settings_for(fake, max_attempts=2), seed=5, concurrency=2)
    assert len(list_tasks(open_db(db_path))) == 20


def test_cancel_stops_a_round_whose_requests_are_still_in_flight(db_path, fake):
    import threading
    import time

    from studio import jobs

    job = JobContext.create(db_path, "brainstorm", {})
    result = brainstorm(db_path, "short-long", 20, settings_for(fake), job=job, seed=5)  # one quick round first
    fake.latency = 30.0  # the next round hangs until cancelled
    job = JobContext.create(db_path, "brainstorm", {})
    threading.Timer(0.5, jobs.cancel, [open_db(db_path), job.job_id]).start()
    started = time.monotonic()
    result = brainstorm(db_path, "short-long", 20, settings_for(fake, timeout=60), job=job, seed=6)
    assert time.monotonic() - started < 5 and result.inserted == 0 and result.calls == 0
    assert len(list_tasks(open_db(db_path), "short-long")) == 20  # what earlier rounds stored stays
