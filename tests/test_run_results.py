"""A run's results in the Train tab say which entry is which: the base model or this run, on which
dataset and split, with which query instruction, and what the run changed (clicked in Chromium)."""

import pytest

from storage.db import open_db
from studio.evaluation import evaluate_run_heldout
from studio.evaluation.run_report import run_results
from tests.outside import launch_chromium, playwright_api
from tests.studio_server import running_studio
from tests.test_compare_tab import add_run, shot
from tests.tiny_models import build_tiny_encoder

browser = playwright_api()
expect, sync_playwright = browser.expect, browser.sync_playwright


@pytest.fixture
def evaluated_run(isolated_data_dir):
    db_path = isolated_data_dir / "studio.db"
    run_id = add_run(open_db(db_path), isolated_data_dir / "runs" / "tiny-run", "tiny-demo")
    base = build_tiny_encoder(isolated_data_dir / "models" / "tiny-base", seed=5)
    db = open_db(db_path)
    db.execute("UPDATE runs SET base_model = ? WHERE id = ?", [str(base), run_id])
    evaluate_run_heldout(db_path, run_id)
    return db_path, run_id, str(base)


def test_run_results_label_base_and_run_and_give_the_change(evaluated_run):
    db_path, run_id, base = evaluated_run
    entries = run_results(open_db(db_path), run_id)
    assert [entry["model"] for entry in entries] == ["this run", f"base model ({base})"]
    assert all(entry["dataset"] == f"held-out set of run {run_id} (4 queries)" and entry["split"] == "heldout"
               for entry in entries)
    assert entries[0]["instruction"] == "each query's own task instruction" and entries[1]["instruction"] == "none"
    change = entries[0]["change vs base model"]["nDCG@10"]
    assert change == pytest.approx(entries[0]["metrics"]["nDCG@10"] - entries[1]["metrics"]["nDCG@10"], abs=1e-3)
    assert "change vs base model" not in entries[1]


def test_train_tab_shows_the_labelled_results_of_a_picked_run(evaluated_run, isolated_data_dir):
    with running_studio(isolated_data_dir) as studio, sync_playwright() as playwright:
        page = launch_chromium(playwright).new_page(viewport={"width": 1400, "height": 1100})
        page.goto(studio.url)
        page.get_by_role("tab", name="5 · Train").click()
        page.locator("#train-runs").get_by_role("gridcell").nth(1).click()
        results = page.locator("#train-run-results")
        for text in ("this run", "base model (", "held-out set of run 1 (4 queries)", "each query's own task instruction",
                     "nDCG@10 change vs base model"):
            expect(results).to_contain_text(text, timeout=30_000)
        shot(page, "train-run-results.png")
        page.context.browser.close()
