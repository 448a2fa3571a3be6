"""The whole loop in headless Chromium, as a person would do it, against a fake OpenAI-compatible server.

Edit and render a template, brainstorm tasks and accept one, generate examples, accept them in
Curate, train a tiny model for a few steps, and compare it with the base model. A screenshot of
every tab goes to $STUDIO_SHOTS_DIR (default: a `screenshots` folder in the test's temporary
directory, printed at the end).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import open_db
from storage.examples import insert_examples
from studio.config import REPO_ROOT
from tests.studio_server import running_studio
from tests.tiny_models import build_tiny_encoder

from tests.outside import launch_chromium, playwright_api as require_browser

playwright_api = require_browser()
expect = playwright_api.expect


@pytest.fixture
def fake_endpoint():
    """The fake server as its own process, so that its CPU is not the test's."""
    process = subprocess.Popen([sys.executable, "-m", "tests.fake_openai", "--port", "0", "--latency", "0.02"],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        assert "listening on" in line, line
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _count(db_path, sql: str) -> int:
    return open_db(db_path).execute(sql).fetchone()[0]


def _wait_db(page, db_path, sql: str, at_least: int, timeout_s: float) -> int:
    deadline = timeout_s * 1000
    waited = 0
    while waited < deadline:
        value = _count(db_path, sql)
        if value >= at_least:
            return value
        page.wait_for_timeout(500)
        waited += 500
    raise AssertionError(f"{sql} stayed below {at_least} for {timeout_s:.0f} s")


def test_the_whole_loop_in_a_browser(isolated_data_dir, tmp_path, fake_endpoint):
    shots = Path(os.environ.get("STUDIO_SHOTS_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    base_model = build_tiny_encoder(isolated_data_dir / "models" / "tiny-base")
    env = {"OPENAI_BASE_URL": fake_endpoint, "OPENAI_API_KEY": "sk-e2e-test", "STUDIO_LLM_MODEL": "fake-model"}
    with running_studio(isolated_data_dir, env=env) as studio, playwright_api.sync_playwright() as driver:
        db_path = studio.db_path
        browser = launch_chromium(driver)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(studio.url)

        def tab(number: int, name: str):
            page.get_by_role("tab", name=f"{number} · {name}").click()

        def shot(name: str):
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        # 1 · Templates: edit, render, save a new version.
        tab(1, "Templates")
        editor = page.locator("#template-editor .cm-content")
        expect(editor).to_contain_text("{{ task }}", timeout=60_000)
        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("\nKeep every document in plain prose.")
        page.get_by_role("button", name="Render", exact=True).click()
        expect(page.locator("#rendered-prompt textarea")).to_have_value(re.compile("Keep every document in plain prose"),
                                                                        timeout=60_000)
        expect(page.locator("#render-note")).to_contain_text("unsaved edits")
        page.get_by_role("button", name="Save as new version").click()
        _wait_db(page, db_path, "SELECT COUNT(*) FROM template_versions WHERE source = 'user'", 1, 60)
        expect(page.locator("#render-note")).to_contain_text("saved, active version", timeout=30_000)
        shot("1-templates")

        # 2 · Tasks: brainstorm, then accept one after looking at it.
        tab(2, "Tasks")
        page.locator("#tasks-brainstorm").click()
        _wait_db(page, db_path, "SELECT COUNT(*) FROM tasks WHERE family = 'short-long'", 10, 120)
        table = page.locator("#tasks-table")
        expect(table.get_by_role("gridcell").first).to_be_visible(timeout=60_000)
        table.get_by_role("gridcell").nth(1).click()
        expect(page.locator("#tasks-edit textarea")).not_to_have_value("", timeout=30_000)
        page.get_by_role("button", name="Accept (active)").click()
        expect(page.locator("#tasks-action-note")).not_to_be_empty(timeout=30_000)
        shot("2-tasks")

        # 3 · Generate: 3 examples for each of the first 10 tasks.
        tab(3, "Generate")
        page.get_by_label("Examples per task (K)").fill("3")
        page.get_by_label("Use first N tasks (0 = all)").fill("10")
        page.locator("#generate-start").click()
        generated = _wait_db(page, db_path, "SELECT COUNT(*) FROM examples", 30, 240)
        expect(page.locator("#generate-numbers")).not_to_be_empty(timeout=60_000)
        shot("3-generate")

        # 4 · Curate: accept two by hand, then the rest in bulk.
        tab(4, "Curate")
        cells = page.locator("#curate-table").get_by_role("gridcell")
        expect(cells.first).to_be_visible(timeout=60_000)
        cells.nth(4).click()
        expect(page.locator("#curate-query textarea")).not_to_have_value("", timeout=60_000)  # the row is open
        opened = page.locator("#curate-example-id input")
        for accepted in (1, 2):  # accept moves on to the next row; wait for both before the next click
            current = opened.input_value()
            page.locator("#curate-accept").click()
            _wait_db(page, db_path, "SELECT COUNT(*) FROM examples WHERE status = 'accepted'", accepted, 60)
            expect(opened).not_to_have_value(current, timeout=60_000)
        page.get_by_role("button", name="Accept all matching").click()
        page.get_by_role("button", name="Yes, do it").click()
        _wait_db(page, db_path, "SELECT COUNT(*) FROM examples WHERE status = 'accepted'", generated, 60)
        # Search, marked in the table: a word inside Japanese text (an imported example, left pending).
        insert_examples(open_db(db_path), [{"family": "short-long", "language": "Japanese", "query": "電波塔はどこ",
                                            "positive": "東京タワーは東京都港区にある電波塔です。"}])
        search = page.get_by_label("Search query, positive and negative")
        search.fill("電波塔")
        search.press("Enter")
        expect(page.locator("#curate-table mark").first).to_have_text("電波塔", timeout=30_000)
        expect(page.get_by_text("of 1 matching")).to_be_visible()
        shot("4-curate")

        # 5 · Train: the tiny model, a few steps.
        tab(5, "Train")
        # The page loaded before anything was accepted: the tab counts again when it is opened.
        expect(page.locator("#train-data-preview")).to_contain_text(f"{generated} accepted examples match",
                                                                     timeout=30_000)
        model_box = page.get_by_label("Base model")
        model_box.fill(str(base_model))
        model_box.press("Enter")
        # A new base model brings its suggested settings: wait for them before changing any.
        expect(page.locator("#train-suggestion")).to_contain_text(base_model.name, timeout=30_000)
        page.get_by_label("Batch size").fill("8")
        page.get_by_label("Max steps").fill("3")
        page.get_by_label("Max length (tokens)").fill("64")
        page.get_by_role("button", name="Start training").click()
        _wait_db(page, db_path, "SELECT COUNT(*) FROM runs WHERE state = 'done'", 1, 300)
        _wait_db(page, db_path, "SELECT COUNT(*) FROM evaluations", 2, 120)  # held-out: run and its base
        expect(page.locator("#train-status")).to_contain_text("done", timeout=60_000)
        # A past run's details show only once one is picked: no empty frames before.
        expect(page.locator("#train-run-summary")).to_contain_text("Click a run in the table")
        expect(page.locator("#train-run-results")).to_be_hidden()
        page.locator("#train-runs").get_by_role("gridcell").nth(1).click()
        expect(page.locator("#train-run-summary")).to_contain_text("Run 1 · done", timeout=30_000)
        expect(page.locator("#train-run-summary")).to_contain_text('"batch_size": 8')  # what was typed
        expect(page.locator("#train-run-results")).to_be_visible()
        shot("5-train")

        # 6 · Compare: the run against the studio's default base model on the run's held-out examples.
        tab(6, "Compare")
        page.get_by_role("button", name="Refresh lists").click()
        page.wait_for_timeout(1500)
        expect(page.get_by_label("Model A (reference)")).to_have_value("minilm (base)")
        expect(page.get_by_label("Model B (challenger)")).to_have_value(re.compile("^run 1"))
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text("nDCG@10: A")).to_be_visible(timeout=240_000)
        expect(page.get_by_role("gridcell", name="MAP@100")).to_be_visible()
        # Both models' top-10 lists for a query typed by hand, side by side.
        page.get_by_label("or type a query").fill("what is harbor canyon")
        page.get_by_role("button", name="Search with both models").click()
        expect(page.get_by_text("a typed query has no relevance marks")).to_be_visible(timeout=120_000)
        expect(page.locator("h4").filter(has_text="A · ")).to_be_visible()
        expect(page.locator("h4").filter(has_text="B · ")).to_be_visible()
        shot("6-compare")

        # Help: the demo set joins the newcomer's own work (no first-run offer any more), then every
        # tab is looked at once more as it is after the walk.
        page.get_by_role("tab", name="Help · demo").click()
        page.locator("#help-demo-load").click()
        expect(page.locator("#help-demo-result")).to_contain_text("Demo loaded", timeout=120_000)
        shot("7-help")
        assert _count(db_path, "SELECT COUNT(*) FROM examples WHERE source != 'demo' AND status = 'accepted'") \
            == generated
        for number, name in enumerate(("Templates", "Tasks", "Generate", "Curate", "Train", "Compare"), start=1):
            tab(number, name)
            page.wait_for_timeout(1500)
            shot(f"after-walk-{number}-{name.lower()}")

        assert not errors, errors
        browser.close()
    print(f"screenshots of every tab: {shots}")
