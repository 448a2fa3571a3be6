"""The Curate tab, driven through gradio_client against a studio started as `python app.py`.

gradio_client hides gr.State: each call's inputs and outputs are the visible components only.
Outputs of a table refresh: table, caption, page number, empty-state; then what the call adds.
"""

import json
import time

import pytest
from gradio_client import handle_file

from storage.db import open_db
from storage.examples import get_example, insert_examples
from tests.browser import in_viewport, page, shot  # noqa: F401  (page is a fixture)
from tests.example_rows import make_rows

NO_FILTER = ["all", "all", "all", "all", "", "", [], "positive", "", "", ""]


@pytest.fixture
def store(studio):
    db = open_db(studio.db_path)
    for table in ("examples", "example_history", "curation_actions"):
        db.execute(f"DELETE FROM {table}")
    return db


def apply(client, *, search="", status="all", family="all", language="all", flags=(), sort="newest first",
          size=25):
    values = list(NO_FILTER)
    values[0], values[1], values[2], values[6], values[10] = status, family, language, list(flags), search
    return client.predict(*values, sort, size, api_name="/curate_filter")


def ids_of(table) -> list[int]:
    return [int(row[0]) for row in table["data"]]


def test_empty_state_then_import_with_refusal_and_skip(studio_client, store, tmp_path):
    loaded = studio_client.predict(api_name="/curate_load")
    assert loaded[6].get("visible") is True and "No examples" in loaded[4]
    good = {"query": "hello", "positive": "world", "negative": None, "instruction": "", "family": "short-short",
            "language": "English"}
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(good) + "\n{broken\n")
    refused = studio_client.predict(handle_file(str(source)), "pending", False, "newest first", 25,
                                    api_name="/curate_import")
    assert "line 2" in refused[0] and refused[0].startswith("⚠")
    imported = studio_client.predict(handle_file(str(source)), "accepted", True, "newest first", 25,
                                     api_name="/curate_import")
    assert "imported 1" in imported[0].lower() and imported[6].get("visible") is False
    assert store.execute("SELECT status FROM examples").fetchall() == [("accepted",)]


def test_search_highlights_and_server_side_pages(studio_client, store):
    insert_examples(store, make_rows(60))
    table, caption, page, *_ = apply(studio_client, size=25)
    assert len(table["data"]) == 25 and "of **60**" in caption and page == 1
    second = studio_client.predict("newest first", 25, api_name="/curate_next_page")
    assert len(second[0]["data"]) == 25 and second[2] == 2
    assert not set(ids_of(second[0])) & set(ids_of(table))
    found = apply(studio_client, search="q7")
    assert ids_of(found[0]) and all("<mark>q7</mark>" in row[4] for row in found[0]["data"])
    escaped = store.execute("SELECT id FROM examples ORDER BY id LIMIT 1").fetchone()[0]
    store.execute("UPDATE examples SET query = '<script>alert(1)</script> zebra' WHERE id = ?", [escaped])
    shown = apply(studio_client, search="zebra")[0]["data"][0][4]
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "<mark>zebra</mark>" in shown


def test_editor_accepts_with_edit_moves_on_and_keeps_history(studio_client, store):
    insert_examples(store, make_rows(6))
    table = apply(studio_client, status="pending")[0]
    first, second = ids_of(table)[:2]
    opened = studio_client.predict(first, api_name="/curate_open")
    assert opened[0] == first and "pending" in opened[5]
    result = studio_client.predict(first, opened[1], "an edited query", opened[3], opened[4], "newest first", 25,
                                   api_name="/curate_accept")
    *_, next_id, _, _, _, _, _, _, note, _ = result
    assert next_id == second and f"Accepted example {first}" in note
    row = get_example(store, first)
    assert row["status"] == "accepted" and row["query"] == "an edited query"
    history = store.execute("SELECT who, before, after FROM example_history WHERE example_id = ?", [first]).fetchall()
    assert history[0][0] == "ui" and json.loads(history[0][2])["query"] == "an edited query"
    rejected = studio_client.predict(second, *[opened[i] for i in (1, 2, 3, 4)], "newest first", 25,
                                     api_name="/curate_reject")
    assert get_example(store, second)["status"] == "rejected" or "identical" in rejected[-2]


def test_bulk_acts_on_the_whole_filter_after_confirmation_and_undo_reverts(studio_client, store):
    insert_examples(store, make_rows(90))
    german = ids_of(apply(studio_client, language="German", size=10)[0])[0]
    assert "pending" in studio_client.predict(german, api_name="/curate_open")[5]
    question = studio_client.predict(api_name="/curate_bulk_accept")
    assert "**30**" in question[0] and "not only this page" in question[0]
    assert store.execute("SELECT COUNT(*) FROM examples WHERE status = 'accepted'").fetchone()[0] == 0
    done = studio_client.predict(german, "newest first", 10, api_name="/curate_bulk_confirm")
    assert "accepted 30" in done[-4]
    assert "accepted" in done[-2] and "pending" not in done[-2]  # the open example says what it is now
    assert store.execute("SELECT COUNT(*) FROM examples WHERE status = 'accepted' AND language = 'German'"
                         ).fetchone()[0] == 30
    undone = studio_client.predict(None, "newest first", 10, api_name="/curate_undo")
    assert "30 examples" in undone[-2]
    assert store.execute("SELECT COUNT(*) FROM examples WHERE status = 'accepted'").fetchone()[0] == 0


def test_export_stays_inside_the_data_folder(studio, studio_client, store):
    insert_examples(store, make_rows(6, status="accepted"))
    apply(studio_client)
    refused = studio_client.predict("jsonl", "accepted", "../../outside.jsonl", True, api_name="/curate_export")
    assert refused[0].startswith("⚠") and "inside the data folder" in refused[0]
    done = studio_client.predict("jsonl", "accepted", "mine.jsonl", True, api_name="/curate_export")
    assert "exported 6" in done[0].lower()
    assert len((studio.data_dir / "exports" / "mine.jsonl").read_text().splitlines()) == 6
    hf = studio_client.predict("hf", "accepted", "hfset", True, api_name="/curate_export")
    assert (studio.data_dir / "exports" / "hfset" / "README.md").exists() and hf[1].endswith(".zip")


def test_stats_endpoint_returns_plotly_charts(studio_client, store):
    insert_examples(store, make_rows(12))
    charts = studio_client.predict(api_name="/curate_stats")
    assert len(charts) == 6 and all(chart["type"] == "plotly" for chart in charts)


def test_quality_job_runs_in_the_background_and_fills_the_columns(studio, studio_client, store):
    insert_examples(store, make_rows(8))
    started = studio_client.predict("minilm", 0.95, "all", api_name="/curate_quality")
    assert started[0].startswith("Started quality job")
    job_id = int(started[0].split()[-1].rstrip("."))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = store.execute("SELECT state, error FROM jobs WHERE id = ?", [job_id]).fetchone()
        if state[0] not in ("queued", "running"):
            break
        time.sleep(1)
    assert state[0] == "done", state
    assert store.execute("SELECT COUNT(*) FROM examples WHERE q_at IS NOT NULL").fetchone()[0] == 8
    flagged = apply(studio_client, flags=["no quality signals yet"])
    assert "No examples match" in flagged[1]


def test_accepting_row_after_row_crosses_the_page_edge_and_keeps_going(studio_client, store):
    insert_examples(store, make_rows(14))
    table = apply(studio_client, size=10)[0]  # all statuses: decided rows stay in the list
    current = ids_of(table)[7]
    seen = [current]
    for _ in range(5):
        opened = studio_client.predict(current, api_name="/curate_open")
        result = studio_client.predict(current, *[opened[i] for i in (1, 2, 3, 4)], "newest first", 10,
                                       api_name="/curate_accept")
        current = result[-9]
        seen.append(current)
    assert len(set(seen)) == 6, seen  # every example opened once: the page edge does not send one back
    assert store.execute("SELECT COUNT(*) FROM examples WHERE status = 'accepted'").fetchone()[0] == 5


def test_a_refused_import_says_so_beside_the_import_button(studio, store, page, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    insert_examples(store, make_rows(30))  # a full table above, as in real use
    source = tmp_path / "bad.jsonl"
    source.write_text("{broken\n")
    page.goto(studio.url)
    page.get_by_role("tab", name="4 · Curate").click()
    page.get_by_text("Import and export").click()
    page.locator("#curate-import").scroll_into_view_if_needed()
    page.locator("#curate-import-file input[type=file]").set_input_files(str(source))
    page.wait_for_timeout(1000)  # the upload lands before the click reads it
    page.locator("#curate-import").click()
    result = page.locator("#curate-import-result")
    playwright_api.expect(result).to_contain_text("line 1", timeout=30_000)
    playwright_api.expect(result).to_contain_text("Skip bad lines")
    shot(page, "curate-import-refused.png")
    page.locator("#curate-import").scroll_into_view_if_needed()
    assert in_viewport(page, page.locator("#curate-import")) and in_viewport(page, result)
    # A later good import replaces the refusal in the same place.
    source.write_text(json.dumps({"query": "a fresh query", "positive": "its passage", "negative": None,
                                  "instruction": "", "family": "short-short", "language": "English"}) + "\n")
    page.locator("#curate-import-file").get_by_label("Clear").click()
    page.locator("#curate-import-file input[type=file]").set_input_files(str(source))
    page.wait_for_timeout(1000)
    page.locator("#curate-import").click()
    playwright_api.expect(result).to_contain_text("Imported 1", timeout=30_000)
    playwright_api.expect(result).not_to_contain_text("line 1")


def test_quality_job_flags_a_language_mismatch_and_spares_the_demo_bitext(studio, store, page):
    playwright_api = pytest.importorskip("playwright.sync_api")
    from studio.demo.loader import load_demo

    load_demo(studio.db_path, with_comparison=False)
    insert_examples(store, [{"family": "sts", "language": "Uzbek", "instruction": "Retrieve semantically similar text.",
                             "query": "The weather in the mountains changes very quickly in spring.",
                             "positive": "In spring, mountain weather can turn suddenly.", "negative": None}])
    page.goto(studio.url)
    page.get_by_role("tab", name="4 · Curate").click()
    page.get_by_text("Quality signals and hard-negative mining").click()
    page.get_by_role("button", name="Compute quality signals").click()
    started = page.locator("#curate-job-result")
    playwright_api.expect(started).to_contain_text("Started quality job", timeout=30_000)
    job_id = int(started.inner_text().split()[-1].rstrip("."))
    playwright_api.expect(page.locator("#curate-job-status")).to_contain_text(f"quality job {job_id} · done",
                                                                            timeout=240_000)
    page.locator("#curate-flags input").click()
    page.get_by_role("option", name="language mismatch").click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Search / apply filters").click()
    table = page.locator("#curate-table")
    playwright_api.expect(table).to_contain_text("query is in English, not Uzbek", timeout=30_000)
    playwright_api.expect(page.locator("#curate-caption")).to_contain_text("of 1 matching")
    shot(page, "curate-language-mismatch.png")
    flagged = store.execute("SELECT family, language FROM examples WHERE q_language_flag = 1").fetchall()
    assert flagged == [("sts", "Uzbek")]
    assert store.execute("SELECT COUNT(*) FROM examples WHERE family = 'bitext' AND q_at IS NOT NULL").fetchone()[0] \
        == sum(1 for row in store.query("SELECT 1 FROM examples WHERE family = 'bitext'"))
