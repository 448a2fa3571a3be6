"""The Tasks tab, driven through gradio_client against `python app.py`."""

import time

import pytest

from storage.db import open_db
from storage.examples import insert_examples
from tests.fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(brainstorm_style="numbered") as server:
        yield server


@pytest.fixture(scope="module")
def configured(studio_client, fake):
    return studio_client.predict(fake.url, "fake-model", "sk-tasks", 4, None, None, api_name="/settings_save")


def test_empty_family_says_what_to_do(configured, studio_client):
    rows, summary = studio_client.predict("long-long", "all", api_name="/tasks_list")
    assert rows["data"] == [] and "No long-long tasks yet" in summary and "Brainstorm more" in summary


def test_brainstorm_more_fills_the_table_then_edit_reject_accept(configured, studio, studio_client):
    note = studio_client.predict("short-short", 25, api_name="/tasks_brainstorm")
    assert note.startswith("Brainstorming 25 short-short tasks")
    deadline = time.time() + 60
    while True:
        status, rows, summary = studio_client.predict("short-short", "all", "", api_name="/tasks_poll")
        if status.startswith("✓"):
            break
        assert not status.startswith("⚠") and time.time() < deadline, status
        time.sleep(0.3)
    rows, summary = studio_client.predict("short-short", "all", api_name="/tasks_list")
    assert len(rows["data"]) == 25 and "**25 active**" in summary
    assert rows["headers"][:4] == ["id", "task", "status", "examples"]
    first_id, first_text = rows["data"][-1][0], rows["data"][-1][1]
    insert_examples(open_db(studio.db_path), [{"family": "short-short", "query": "q", "positive": "p",
                                               "instruction": first_text, "task_id": first_id}])

    note, rows, summary = studio_client.predict(first_id, "Given a word, find its dictionary definition",
                                                "short-short", "all", api_name="/tasks_edit")
    assert note == f"Saved task {first_id}."
    edited = next(row for row in rows["data"] if row[0] == first_id)
    assert edited[1] == "Given a word, find its dictionary definition" and edited[3] == 1  # its example count

    clash = rows["data"][0][1]
    note, _, _ = studio_client.predict(first_id, clash.upper() + "!", "short-short", "all", api_name="/tasks_edit")
    assert note.startswith("⚠ Not saved") and "already says the same thing" in note

    note, rows, summary = studio_client.predict(first_id, "short-short", "all", api_name="/tasks_reject")
    assert "rejected" in note and "**24 active**, 1 rejected" in summary
    rows, _ = studio_client.predict("short-short", "rejected", api_name="/tasks_list")
    assert [row[0] for row in rows["data"]] == [first_id]
    note, rows, summary = studio_client.predict(first_id, "short-short", "all", api_name="/tasks_accept")
    assert "**25 active**" in summary


def test_actions_without_a_selection_explain_themselves(configured, studio_client):
    note, _, _ = studio_client.predict(None, "short-long", "all", api_name="/tasks_reject")
    assert note == "Click a task in the table first."


def test_a_running_brainstorm_can_be_cancelled_from_the_tab(configured, fake, studio_client):
    fake.latency = 30.0  # the job's first request hangs: only a cancel ends it soon
    try:
        note = studio_client.predict("long-short", 20, api_name="/tasks_brainstorm")
        assert note.startswith("Brainstorming 20 long-short tasks")
        deadline = time.time() + 30
        while "(running)" not in studio_client.predict("long-short", "all", "", api_name="/tasks_poll")[0]:
            assert time.time() < deadline
            time.sleep(0.3)
        assert studio_client.predict("long-short", api_name="/tasks_cancel").endswith("cancelling…")
        deadline = time.time() + 20
        while "cancelled" not in (status := studio_client.predict("long-short", "all", "", api_name="/tasks_poll")[0]):
            assert time.time() < deadline and not status.startswith(("✓", "⚠")), status
            time.sleep(0.3)
        assert status.endswith("cancelled before it stored any tasks.")
        assert studio_client.predict("long-short", api_name="/tasks_cancel") == "No long-short brainstorm is running."
    finally:
        fake.latency = 0.0
