"""The Compare tab in a launched studio, driven in headless Chromium as a person would."""

import json
import os
import re

import pytest

from storage import evaluations as evaluation_rows
from storage import jobs as job_rows
from storage.db import now, open_db
from storage.examples import insert_examples
from studio.corpus.importer import add_corpus
from tests.corpus_files import write_beir_corpus
from tests.fake_openai import FakeOpenAI
from tests.outside import launch_chromium, playwright_api
from tests.studio_server import running_studio
from tests.tiny_models import build_tiny_encoder
from tests.waiting import wait_for

browser = playwright_api()
expect, sync_playwright = browser.expect, browser.sync_playwright

TOPICS = [
    ("what sound does a cat make", "Cats purr and meow when they are content.", "Dogs bark at strangers."),
    ("how do proteins fold", "Proteins fold into shapes guided by their sequence.", "Proteins are found in meat."),
    ("why do volcanoes erupt", "Volcanoes erupt when rising magma breaks the crust.", "Mountains are tall."),
    ("is coffee bad for sleep", "Caffeine blocks adenosine and delays sleep.", "Coffee is grown in Brazil."),
]


SHOTS = os.environ.get("STUDIO_SHOTS_DIR")  # set it to keep screenshots of what the tests saw


def shot(page, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def add_run(db, folder, name: str, topics=TOPICS) -> int:
    """A finished run as the trainer leaves it: its model folder and its held-out examples."""
    model = build_tiny_encoder(folder)
    rows = [{"family": "short-long", "language": "English", "instruction": "Find the passage that answers the question.",
             "query": q, "positive": p, "negative": n, "status": "accepted"} for q, p, n in topics]
    ids = insert_examples(db, rows).ids
    cursor = db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        [name, "minilm", json.dumps({"heldout_ids": ids}), str(model), "done", now()])
    return cursor.lastrowid


@pytest.fixture
def studio_with_a_run(isolated_data_dir):
    add_run(open_db(isolated_data_dir / "studio.db"), isolated_data_dir / "runs" / "tiny-run", "tiny-demo")
    with running_studio(isolated_data_dir) as studio:
        yield studio


def open_compare(playwright, studio):
    page = launch_chromium(playwright).new_page(viewport={"width": 1400, "height": 1100})
    page.goto(studio.url)
    page.get_by_role("tab", name="6 · Compare").click()
    return page


def choose_dataset(page, value: str) -> None:
    box = page.get_by_label("Dataset", exact=True)
    box.fill(value)
    box.press("Enter")


def test_compare_shows_metrics_per_query_table_and_side_by_side_lists(studio_with_a_run):
    studio = studio_with_a_run
    with sync_playwright() as playwright:
        page = open_compare(playwright, studio)
        expect(page.get_by_text("Nothing compared yet.")).to_be_visible()
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text("nDCG@10: A")).to_be_visible(timeout=180_000)
        expect(page.get_by_role("gridcell", name="MAP@100")).to_be_visible()
        # What each model's queries got is said beside it.
        status = page.locator("#compare-status")
        expect(status).to_contain_text("A minilm · instruction: none")
        expect(status).to_contain_text("instruction: each query's own task instruction")

        page.get_by_role("gridcell", name="why do volcanoes erupt").first.click()
        expect(page.get_by_text("vs A")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("1 relevant document(s) in the qrels")).to_be_visible()
        heads = page.locator("h4")
        # These held-out examples were not written from a corpus: "more like these" says why it is not offered.
        expect(page.locator("#compare-weak-note")).to_contain_text("Offered on a corpus's held-out queries only")
        expect(page.get_by_role("button", name="Generate more like these")).to_be_hidden()
        expect(heads.filter(has_text="A · minilm")).to_be_visible()
        expect(heads.filter(has_text="B · tiny-run")).to_be_visible()
        shot(page, "compare-results.png")

        db = open_db(studio.db_path)
        stored = evaluation_rows.list_evaluations(db)
        assert sorted(row["model"] for row in stored) == sorted(["minilm", str(studio.data_dir / "runs" / "tiny-run")])
        jobs_before = len(job_rows.list_jobs(db, kind="eval"))
        # A second comparison reuses the stored evaluations: no new jobs.
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(status).to_contain_text("A minilm · instruction: none — ready", timeout=30_000)
        assert len(job_rows.list_jobs(db, kind="eval")) == jobs_before

        # A bad BEIR path: the warning, and none of the previous comparison's figures under it.
        choose_dataset(page, str(studio.data_dir / "no-such-folder"))
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(status).to_contain_text("not found", timeout=30_000)
        expect(page.locator("#compare-summary")).to_be_hidden()
        expect(page.get_by_role("gridcell", name="MAP@100")).to_be_hidden()
        shot(page, "compare-bad-path.png")
        page.context.browser.close()


def test_each_model_gets_its_own_instruction_and_a_warning_when_it_gets_none(studio_with_a_run):
    studio = studio_with_a_run
    with sync_playwright() as playwright:
        page = open_compare(playwright, studio)
        expect(page.locator("#compare-default-b")).to_contain_text("each query's own task instruction", timeout=30_000)
        expect(page.locator("#compare-default-a")).to_contain_text("none")
        page.get_by_role("textbox", name=re.compile("^Instruction for A")).fill("Find the passage about nature")
        page.get_by_label("No instruction for B").check()
        page.get_by_role("button", name="Compare", exact=True).click()
        status = page.locator("#compare-status")
        expect(status).to_contain_text("A minilm · instruction: “Find the passage about nature” (typed)",
                                       timeout=30_000)
        expect(status).to_contain_text("B was trained with instructions but is evaluated without any")
        expect(page.get_by_text("nDCG@10: A")).to_be_visible(timeout=180_000)
        db = open_db(studio.db_path)
        used = {row["model"]: (row["details"]["instruction_source"], row["details"]["query_instruction"])
                for row in evaluation_rows.list_evaluations(db)}
        assert used == {"minilm": ("given", "Find the passage about nature"),
                        str(studio.data_dir / "runs" / "tiny-run"): ("none", None)}
        shot(page, "compare-instructions.png")
        page.context.browser.close()


def test_a_run_finished_since_the_tab_opened_becomes_b_on_its_own_heldout_set(studio_with_a_run):
    studio = studio_with_a_run
    with sync_playwright() as playwright:
        page = open_compare(playwright, studio)
        expect(page.get_by_label("Model B (challenger)")).to_have_value(re.compile("^run 1"), timeout=30_000)
        # Run 2 finishes while the tab is open; it trained on run 1's held-out examples.
        later = [("how do bees dance", "Bees waggle to point at flowers.", "Bees sting."),
                 ("what is a comet", "A comet is ice and dust with a tail near the sun.", "Stars twinkle."),
                 ("why is the sea salty", "Rivers carry minerals that build up in the sea.", "Fish swim.")]
        add_run(open_db(studio.db_path), studio.data_dir / "runs" / "second-run", "second", topics=later)
        page.get_by_role("button", name="Refresh lists").click()
        expect(page.get_by_label("Model B (challenger)")).to_have_value(re.compile("^run 2 · second"), timeout=30_000)
        expect(page.get_by_label("Dataset", exact=True)).to_have_value(re.compile("^held-out set of run 2"))
        # Run 1's held-out set is marked: it was run 2's training data.
        page.get_by_label("Dataset", exact=True).click()
        expect(page.get_by_role("option", name=re.compile("held-out set of run 1.*4 of them trained model B"))
               ).to_be_visible(timeout=30_000)
        page.get_by_role("option", name=re.compile("held-out set of run 1")).click()
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.locator("#compare-status")).to_contain_text("4 of this dataset's queries were training examples "
                                                                "of B (run 2)", timeout=30_000)
        shot(page, "compare-new-run.png")
        page.context.browser.close()


def test_compare_explains_what_is_missing_instead_of_failing(isolated_data_dir):
    with running_studio(isolated_data_dir) as studio, sync_playwright() as playwright:
        page = open_compare(playwright, studio)
        note = page.locator("#compare-empty-datasets")
        expect(note).to_contain_text("The dataset list is empty", timeout=30_000)
        expect(note).to_contain_text("No training run has finished yet")
        for alternative in ("a BEIR folder", "a BEIR zip", "the held-out set of another run"):
            expect(note).to_contain_text(alternative)
        shot(page, "compare-empty.png")
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text("choose both model A and model B")).to_be_visible(timeout=30_000)
        page.context.browser.close()


SEA = {"tides": "the moon pulls the oceans and makes two high tides every day on most coasts",
       "waves": "wind blowing over open water builds waves that travel far across the ocean",
       "reefs": "corals build reefs in warm and shallow tropical seas full of fish",
       "whales": "humpback whales sing long songs and migrate thousands of miles each year",
       "salt": "rivers carry dissolved minerals that build up and make the sea salty",
       "ice": "sea ice forms when polar ocean water freezes in the long dark winter",
       "kelp": "kelp forests grow tall in cold coastal water and shelter otters and fish",
       "storms": "hurricanes draw their energy from warm ocean water near the tropics"}


def test_generate_more_like_the_queries_b_loses_starts_a_grounded_job(isolated_data_dir, tmp_path):
    """A run trained on a corpus's queries: on its held-out set the control appears beside the per-query
    table, finds the neighbours of B's worst queries and starts a grounded generation job for them."""
    db = open_db(isolated_data_dir / "studio.db")
    add_corpus(db, write_beir_corpus(tmp_path / "sea.jsonl", [(d, d, text) for d, text in SEA.items()]), name="sea",
               chunk=8, overlap=1)
    passages = [p for p in db.query("SELECT id, doc_id, text FROM passages WHERE position = 0 ORDER BY id")]
    ids = insert_examples(db, [{"family": "short-long", "language": "English", "instruction": "Find the sea passage",
                                "query": f"what about {p['doc_id']}", "positive": p["text"], "negative": None,
                                "status": "accepted", "source": "grounded"} for p in passages]).ids
    db.conn.executemany("INSERT INTO example_passages (example_id, corpus_id, passage_id) VALUES (?, 1, ?)",
                        [[i, p["id"]] for i, p in zip(ids, passages)])
    model = build_tiny_encoder(isolated_data_dir / "runs" / "sea-run")
    db.execute("INSERT INTO runs (name, base_model, config, out_dir, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
               ["sea-run", "minilm", json.dumps({"heldout_ids": ids[:4], "train_ids": ids[4:]}), str(model), "done",
                now()])
    with FakeOpenAI() as fake:
        env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-compare-like", "STUDIO_LLM_MODEL": "fake-model"}
        with running_studio(isolated_data_dir, env=env) as studio, sync_playwright() as playwright:
            page = open_compare(playwright, studio)
            page.get_by_role("button", name="Compare", exact=True).click()
            expect(page.get_by_text("nDCG@10: A")).to_be_visible(timeout=180_000)
            expect(page.locator("#compare-weak-note")).to_contain_text("of 4 queries of corpus 'sea'")
            page.get_by_label("Weak queries").fill("2")
            page.get_by_label("Neighbours each").fill("2")
            page.get_by_label("Queries per passage").fill("1")
            page.get_by_role("button", name="Generate more like these").click()
            result = page.locator("#compare-weak-result")
            expect(result).to_contain_text("Started job", timeout=120_000)
            expect(result).to_contain_text("Watch it in the Corpus tab")
            shot(page, "compare-more-like.png")
            job = open_db(studio.db_path).execute(
                "SELECT id, args FROM jobs WHERE kind = 'generate' ORDER BY id DESC LIMIT 1").fetchone()
            passages_asked = json.loads(job[1])["passages"]
            expect(result).to_contain_text(f"Started job {job[0]}: 1 query for each of {passages_asked} passages")
            held = {p["doc_id"] for p in passages[:4]}

            def written():
                rows = open_db(studio.db_path).execute(
                    "SELECT p.doc_id FROM examples e JOIN example_passages l ON l.example_id = e.id"
                    " JOIN passages p ON p.id = l.passage_id WHERE e.job_id = ?", [job[0]]).fetchall()
                return rows if len(rows) == passages_asked else None

            rows = wait_for(written, timeout=60, what="the job's examples")
            assert 1 <= passages_asked <= 4 and not {doc for (doc,) in rows} & held
            page.context.browser.close()
