"""The first-run demo offer, clicked in headless Chromium against a launched studio."""

import re

import pytest

from storage.db import open_db
from studio.demo.loader import demo_examples

from tests.browser import page, shot, studio_url  # noqa: F401  (fixtures)

from tests.outside import playwright_api as require_browser

playwright_api = require_browser()


def db_path_jobs(db_path) -> int:
    return open_db(db_path).execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


def test_empty_studio_offers_the_demo_and_loading_it_fills_the_database(studio_url, page, db_path):
    page.goto(studio_url)
    load = page.locator("#demo-load")
    load.wait_for(state="visible", timeout=30_000)
    shot(page, "demo-offer.png")
    load.click()
    status = page.locator("#demo-status")
    playwright_api.expect(status).to_contain_text("Demo loaded", timeout=60_000)
    playwright_api.expect(page.locator("#demo-load")).to_be_hidden()
    shot(page, "demo-loaded.png")
    # Curate's language filter offers the demo's languages without a reload.
    page.get_by_role("tab", name="4 · Curate").click()
    page.locator("#curate-language input").click()
    playwright_api.expect(page.get_by_role("option", name="Japanese")).to_be_visible(timeout=30_000)
    page.keyboard.press("Escape")
    # The Generate tab counted the tasks when the page opened (none): it counts again when opened.
    page.get_by_role("tab", name="3 · Generate").click()
    playwright_api.expect(page.locator("#generate-hint")).to_contain_text("active tasks", timeout=30_000)
    playwright_api.expect(page.locator("#generate-hint")).not_to_contain_text("no active tasks")
    # "See the comparison in the Compare tab": it is there when the tab opens, without a reload or a click.
    page.get_by_role("tab", name="6 · Compare").click()
    playwright_api.expect(page.locator("#compare-summary")).to_contain_text("nDCG@10", timeout=60_000)
    shot(page, "demo-compare.png")
    assert db_path_jobs(db_path) == 0  # shown from the stored evaluations: nothing was evaluated again
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM examples WHERE source = 'demo'").fetchone()[0] == len(demo_examples())
    # A generation job started elsewhere (the command line) is listed when the Generate tab opens again.
    from storage.jobs import create_job

    job_id = create_job(db, "generate", {"family": "bitext"})
    page.get_by_role("tab", name="3 · Generate").click()
    playwright_api.expect(page.locator("#generate-job input")).to_have_value(re.compile(f"^#{job_id} · bitext"),
                                                                           timeout=30_000)
    # A fresh visit no longer offers the demo: the database has data now.
    page.reload()
    page.locator("text=Embedding Studio").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    assert not page.locator("#demo-load").is_visible()


def test_no_thanks_hides_the_offer_without_loading(studio_url, page, db_path):
    page.goto(studio_url)
    page.locator("#demo-dismiss").wait_for(state="visible", timeout=30_000)
    page.locator("#demo-dismiss").click()
    playwright_api.expect(page.locator("#demo-load")).to_be_hidden()
    assert open_db(db_path).execute("SELECT COUNT(*) FROM examples").fetchone()[0] == 0


def test_offer_goes_away_when_data_arrives_another_way(studio_url, page, db_path):
    from storage.examples import insert_examples

    page.goto(studio_url)
    page.locator("#demo-load").wait_for(state="visible", timeout=30_000)
    insert_examples(open_db(db_path), [{"family": "sts", "language": "English", "instruction": "x",
                                        "query": "a generated query", "positive": "its match", "negative": None}])
    playwright_api.expect(page.locator("#demo-load")).to_be_hidden(timeout=20_000)


def _demo_examples(db_path) -> int:
    return open_db(db_path).execute("SELECT COUNT(*) FROM examples WHERE source = 'demo'").fetchone()[0]


def test_after_no_thanks_the_help_tab_still_loads_the_demo_once(studio_url, page, db_path):
    page.goto(studio_url)
    page.locator("#demo-dismiss").wait_for(state="visible", timeout=30_000)
    page.locator("#demo-dismiss").click()
    page.get_by_role("tab", name="Help · demo").click()
    playwright_api.expect(page.locator("#help-demo-state")).to_contain_text("not loaded", timeout=30_000)
    page.locator("#help-demo-load").click()
    result = page.locator("#help-demo-result")
    playwright_api.expect(result).to_contain_text("Demo loaded", timeout=60_000)
    playwright_api.expect(page.locator("#help-demo-state")).to_contain_text(f"{len(demo_examples())} examples")
    assert _demo_examples(db_path) == len(demo_examples())
    page.locator("#help-demo-load").click()
    playwright_api.expect(result).to_contain_text("already loaded: nothing was added", timeout=60_000)
    assert _demo_examples(db_path) == len(demo_examples())
    shot(page, "help-demo-loaded-twice.png")


def test_after_work_of_ones_own_the_demo_loads_beside_it_and_is_removed_again(studio_url, page, db_path):
    from storage.examples import insert_examples

    insert_examples(open_db(db_path), [{"family": "sts", "language": "English", "instruction": "x",
                                        "query": "my very own query", "positive": "its match", "negative": None}])
    page.goto(studio_url)
    page.get_by_role("tab", name="Help · demo").click()
    assert not page.locator("#demo-load").is_visible()  # no first-run offer: the database has data
    page.locator("#help-demo-load").click()
    playwright_api.expect(page.locator("#help-demo-result")).to_contain_text("Demo loaded", timeout=60_000)
    assert _demo_examples(db_path) == len(demo_examples())
    page.locator("#help-demo-remove").click()
    playwright_api.expect(page.locator("#help-demo-result")).to_contain_text("Removed", timeout=60_000)
    playwright_api.expect(page.locator("#help-demo-state")).to_contain_text("not loaded")
    shot(page, "help-demo-removed.png")
    db = open_db(db_path)
    assert db.execute("SELECT query FROM examples").fetchall() == [("my very own query",)]
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
