"""The Generate tab (with its Settings panel), driven through gradio_client against `python app.py`."""

import os
import signal
import time
import urllib.request

import pytest

from storage import jobs as job_rows
from storage.db import open_db
from storage.tasks import add_tasks
from tests.fake_openai import FakeOpenAI

SECRET = "sk-ui-session-secret-9876"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def configured(studio, studio_client, fake):
    """The session's settings point at the fake endpoint, with a key typed in the UI."""
    note = studio_client.predict(fake.url, "fake-model", SECRET, 4, 0.5, 1.5, api_name="/settings_save")
    add_tasks(open_db(studio.db_path), "short-long", [f"Given a question on subject {i}, find answers"
                                                      for i in range(5)])
    return note


def value(output):
    return output["value"] if isinstance(output, dict) and output.get("__type__") == "update" else output


def poll_until(client, job_id, states=("done", "failed", "cancelled", "interrupted"), timeout=60, check=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        # (buttons' interactivity is not part of what gradio_client returns)
        bar, numbers, failures = client.predict(job_id, api_name="/generate_poll")
        if any(f"**{state}**" in numbers for state in states) and (check is None or check(numbers)):
            return bar, numbers, failures
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not reach {states}: {numbers}")


def test_settings_describe_the_endpoint_without_showing_the_key(configured, studio_client, fake):
    assert fake.url in configured and "a key typed in this session" in configured and SECRET not in configured
    assert "$0.5 / $1.5 per million" in configured
    connection, models = studio_client.predict(api_name="/settings_test")
    assert connection.startswith("✓ Connected") and "fake-model-mini" in connection
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {SECRET}"


def test_start_watch_and_finish_a_job(configured, studio, studio_client, fake):
    note, job = studio_client.predict("short-long", 3, None, False, api_name="/generate_start")
    assert note.startswith("Started job")
    job_id = value(job)
    bar, numbers, failures = poll_until(studio_client, job_id)
    assert "**done**" in numbers and "**15** new" in numbers and "15 / 15" in bar
    assert failures["visible"] is False  # no failures: no empty table, the numbers say "0 failed"
    assert "Tokens:" in numbers and "examples/s" in numbers and "items left" not in numbers
    assert "cost $0.0" in numbers  # the session's prices reached the job process
    db = open_db(studio.db_path)
    assert db.execute("SELECT COUNT(*) FROM examples WHERE job_id = ?", [job_id]).fetchone()[0] == 15
    # The key typed in the UI reached the endpoint but nothing that is stored, logged or served.
    assert SECRET not in "\n".join(db.conn.iterdump())
    log = studio.data_dir / "logs" / f"job-{job_id}.log"
    assert log.exists() and SECRET not in log.read_text()
    for path in ("", "config", "gradio_api/info"):
        with urllib.request.urlopen(studio.url + path) as response:
            assert SECRET not in response.read().decode()


def test_a_killed_job_shows_as_interrupted_and_resume_finishes_it(configured, studio, studio_client, fake):
    fake.latency = 0.05
    try:
        note, job = studio_client.predict("short-long", 20, None, False, api_name="/generate_start")
        job_id = value(job)
        db = open_db(studio.db_path)
        deadline = time.time() + 30
        while (row := job_rows.get_job(db, job_id))["done"] < 10:
            assert time.time() < deadline
            time.sleep(0.1)
        assert SECRET not in open(f"/proc/{row['pid']}/cmdline", "rb").read().decode()
        os.killpg(row["pid"], signal.SIGKILL)
        _, numbers, _ = poll_until(studio_client, job_id, states=("interrupted",), timeout=20)
        assert "items left**: press **Resume" in numbers
        note, new_job = studio_client.predict(job_id, api_name="/generate_resume")
        assert "resumes job" in note
        new_id = value(new_job)
        _, numbers, _ = poll_until(studio_client, new_id)
        assert "**done**" in numbers and f"resumes job {job_id}" in numbers
        items = db.execute("SELECT COUNT(*), COUNT(DISTINCT item) FROM generation_items WHERE plan_id = ?",
                           [job_id]).fetchone()
        assert items == (100, 100)
    finally:
        fake.latency = 0.0


def test_cancel_from_the_tab(configured, studio, studio_client, fake):
    fake.latency = 0.1
    try:
        _, job = studio_client.predict("short-long", 40, None, False, api_name="/generate_start")
        job_id = value(job)
        poll_until(studio_client, job_id, states=("running",), check=lambda numbers: "**0** new" not in numbers)
        note = studio_client.predict(job_id, api_name="/generate_cancel")
        assert "Cancel requested" in note
        _, numbers, _ = poll_until(studio_client, job_id)
        assert "**cancelled**" in numbers and "press **Resume**" in numbers
    finally:
        fake.latency = 0.0


def test_failed_replies_show_with_their_reasons(configured, studio_client, fake):
    fake.script("malformed", "malformed")  # one item's reply and its retry: recorded as a failure
    _, job = studio_client.predict("short-long", 1, 1, False, api_name="/generate_start")
    _, numbers, failures = poll_until(studio_client, value(job))
    assert "**1** failed" in numbers and failures["visible"] is True
    [[reason, raw]] = failures["value"]["data"]
    assert "JSON" in reason and "unterminated" in raw


def test_errors_are_sentences_not_tracebacks(configured, studio_client):
    note, _ = studio_client.predict("long-long", 2, None, False, api_name="/generate_start")
    assert note.startswith("⚠ Not started") and "brainstorm some in the Tasks tab" in note
    note, _ = studio_client.predict("short-long", None, None, False, api_name="/generate_start")
    assert "at least 1" in note
