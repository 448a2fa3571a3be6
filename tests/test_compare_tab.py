"""The Compare tab in a launched studio, driven in headless Chromium as a person would."""

import json

import pytest

from storage import evaluations as evaluation_rows
from storage import jobs as job_rows
from storage.db import open_db
from storage.examples import insert_examples
from tests.outside import launch_chromium, playwright_api
from tests.studio_server import running_studio
from tests.tiny_models import build_tiny_encoder

browser = playwright_api()
expect, sync_playwright = browser.expect, browser.sync_playwright

TOPICS = [
    ("what sound does a cat make", "Cats purr and meow when they are content.", "Dogs bark at strangers."),
    ("how do proteins fold", "Proteins fold into shapes guided by their sequence.", "Proteins are found in meat."),
    ("why do volcanoes erupt", "Volcanoes erupt when rising magma breaks the crust.", "Mountains are tall."),
    ("is coffee bad for sleep", "Caffeine blocks adenosine and delays sleep.", "Coffee is grown in Brazil."),
]


@pytest.fixture
def studio_with_a_run(isolated_data_dir):
    db = open_db(isolated_data_dir / "studio.db")
    model = build_tiny_encoder(isolated_data_dir / "runs" / "tiny-run")
    rows = [{"family": "short-long", "language": "English", "instruction": "Find the passage that answers the question.",
             "query": q, "positive": p, "negative": n, "status": "accepted"} for q, p, n in TOPICS]
    ids = insert_examples(db, rows).ids
    db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
               ["tiny-demo", "minilm", json.dumps({"heldout_ids": ids}), str(model), "done", "2026-11-28T07:00:00"])
    with running_studio(isolated_data_dir) as studio:
        yield studio


def test_compare_shows_metrics_per_query_table_and_side_by_side_lists(studio_with_a_run):
    studio = studio_with_a_run
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(studio.url)
        page.get_by_role("tab", name="6 · Compare").click()
        expect(page.get_by_text("Nothing compared yet.")).to_be_visible()
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text("nDCG@10: A")).to_be_visible(timeout=180_000)
        expect(page.get_by_role("gridcell", name="MAP@100")).to_be_visible()

        page.get_by_role("gridcell", name="why do volcanoes erupt").first.click()
        expect(page.get_by_text("vs A")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("1 relevant document(s) in the qrels")).to_be_visible()
        heads = page.locator("h4")
        expect(heads.filter(has_text="A · minilm")).to_be_visible()
        expect(heads.filter(has_text="B · tiny-run")).to_be_visible()

        db = open_db(studio.db_path)
        stored = evaluation_rows.list_evaluations(db)
        assert sorted(row["model"] for row in stored) == sorted(["minilm", str(studio.data_dir / "runs" / "tiny-run")])
        jobs_before = len(job_rows.list_jobs(db, kind="eval"))
        # A second comparison reuses the stored evaluations: no new jobs.
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text("`minilm`: ready").or_(page.get_by_text("minilm: ready"))).to_be_visible(timeout=30_000)
        assert len(job_rows.list_jobs(db, kind="eval")) == jobs_before
        browser.close()


def test_compare_explains_what_is_missing_instead_of_failing(isolated_data_dir):
    with running_studio(isolated_data_dir) as studio, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(studio.url)
        page.get_by_role("tab", name="6 · Compare").click()
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text("choose both model A and model B")).to_be_visible(timeout=30_000)
        browser.close()
