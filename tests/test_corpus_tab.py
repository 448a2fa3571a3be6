"""The Corpus tab and Curate's proposals panel in a launched studio, in headless Chromium: upload a
small corpus, generate queries from it, check them with the LLM judge, open a flagged example in
Curate and accept the judge's proposal."""

import json

from storage.db import open_db
from tests.fake_openai import FakeOpenAI
from tests.studio_server import running_studio
from tests.outside import launch_chromium, playwright_api

DOCUMENTS = [("tides", "Tides", "The moon pulls the oceans and makes two high tides every day."),
             ("waves", "Waves", "Wind blowing over open water builds waves that travel far."),
             ("reefs", "Reefs", "Corals build reefs in warm and shallow tropical seas.")]


def _positive_zero_others_three(prompt):
    """The judge grades the example's own positive (always passage [1]) 0 and every other passage 3."""
    count = prompt.count("\n[")
    return [0] + [3] * (count - 1)


def test_upload_generate_check_and_accept_a_proposal_in_curate(isolated_data_dir, tmp_path):
    api = playwright_api()  # skips on a bare clone, fails under CI
    expect, sync_playwright = api.expect, api.sync_playwright

    corpus = tmp_path / "sea.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in DOCUMENTS))
    with FakeOpenAI() as fake:
        fake.grader = _positive_zero_others_three
        env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-corpus-tab", "STUDIO_LLM_MODEL": "fake-model"}
        with running_studio(isolated_data_dir, env=env) as studio, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(studio.url)
            page.get_by_role("tab", name="Corpus").click()
            expect(page.get_by_text("No corpora yet")).to_be_visible()
            page.locator("#corpus-upload input[type=file]").set_input_files(str(corpus))
            page.get_by_role("button", name="Add corpus", exact=True).click()
            expect(page.locator("#corpus-add-result")).to_contain_text("✓ Added corpus 'sea': 3 document(s), "
                                                                       "3 passage(s)", timeout=30_000)
            expect(page.get_by_text("No corpora yet")).to_be_hidden()
            expect(page.get_by_role("gridcell", name="upload: sea.jsonl")).to_be_visible()
            page.get_by_label("Passages (N)").fill("3")
            page.get_by_label("Queries per passage (K)").fill("1")
            page.get_by_label("Task (instruction)").fill("Given a question about the sea, find the passage")
            page.get_by_role("button", name="Generate queries", exact=True).click()
            expect(page.locator("#corpus-jobs")).to_contain_text("✓ generate", timeout=60_000)
            page.get_by_label("LLM judge (proposals to review in Curate)").check()
            page.get_by_role("button", name="Check examples", exact=True).click()
            expect(page.locator("#corpus-jobs")).to_contain_text("✓ check", timeout=120_000)
            page.screenshot(path=str(isolated_data_dir / "corpus-tab.png"), full_page=True)

            db = open_db(studio.db_path)
            flagged = db.execute("SELECT example_id FROM proposals WHERE state = 'open' AND field = 'positive'"
                                 " ORDER BY example_id").fetchall()
            assert len(flagged) == 3
            example_id = flagged[0][0]
            query = db.execute("SELECT query FROM examples WHERE id = ?", [example_id]).fetchone()[0]
            page.get_by_role("tab", name="4 · Curate").click()
            page.get_by_label("Quality flags (all must hold)").click()
            page.get_by_role("option", name="a proposal waits for a decision").click()
            page.keyboard.press("Escape")
            page.get_by_role("gridcell", name=query).first.click(timeout=30_000)
            expect(page.locator("#curate-proposals")).to_contain_text("Proposals of the judge", timeout=30_000)
            page.screenshot(path=str(isolated_data_dir / "curate-proposal.png"), full_page=True)
            before = db.execute("SELECT positive FROM examples WHERE id = ?", [example_id]).fetchone()[0]
            proposed = db.execute("SELECT text FROM proposals WHERE example_id = ? AND state = 'open'",
                                  [example_id]).fetchone()[0]
            assert before != proposed
            page.locator("#curate-proposal-accept").click()
            expect(page.get_by_text("Accepted 1 proposal(s).")).to_be_visible(timeout=30_000)
            after = db.execute("SELECT positive FROM examples WHERE id = ?", [example_id]).fetchone()[0]
            assert after == proposed
            browser.close()
