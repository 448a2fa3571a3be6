"""The Train tab in headless Chromium: what will be held out is said before starting (and what to do
when nothing will be), and Cancel can only be pressed while a run is going."""

import pytest

from tests.browser import page, shot as _shot, studio_url  # noqa: F401 (fixtures)
from tests.outside import playwright_api as require_browser
from tests.tiny_models import build_tiny_decoder
from tests.training_data import add_accepted_examples

playwright_api = require_browser()


def _open_train_tab(page, url):
    page.goto(url)
    page.get_by_role("tab", name="5 · Train").click()


def test_train_says_before_starting_that_nothing_will_be_held_out_and_what_to_do(studio_url, page, db_path):
    expect = playwright_api.expect
    add_accepted_examples(db_path, 3)
    _open_train_tab(page, studio_url)
    preview = page.locator("#train-data-preview")
    expect(preview).to_contain_text("3 accepted examples match", timeout=30_000)
    expect(preview).to_contain_text("Nothing will be held out")
    expect(preview).to_contain_text("Raise the held-out share")
    expect(preview).to_contain_text("held out 0 of 3 tasks")
    _shot(page, "train-nothing-held-out.png")

    add_accepted_examples(db_path, 40)
    _open_train_tab(page, studio_url)
    expect(preview).to_contain_text("40 accepted examples match", timeout=30_000)  # 3 of them already there
    expect(preview).to_contain_text("held out 1 of 9 tasks")
    expect(preview).not_to_contain_text("Nothing will be held out")
    expect(preview).to_contain_text("Query prompt saved with the model")


def test_cancel_is_disabled_while_nothing_runs(studio_url, page, db_path, tmp_path):
    expect = playwright_api.expect
    add_accepted_examples(db_path, 40)
    decoder = build_tiny_decoder(tmp_path / "decoder")
    _open_train_tab(page, studio_url)
    cancel = page.locator("#train-cancel")
    expect(cancel).to_be_disabled(timeout=30_000)
    model_box = page.get_by_label("Base model")
    model_box.fill(str(decoder))
    model_box.press("Enter")
    expect(page.locator("#train-suggestion")).to_contain_text(decoder.name, timeout=30_000)
    page.get_by_label("Batch size").fill("4")
    page.get_by_label("Max steps").fill("5000")
    page.get_by_role("button", name="Start training").click()
    expect(cancel).to_be_enabled(timeout=60_000)
    _shot(page, "train-running.png")
    cancel.click()
    expect(page.locator("#train-status")).to_contain_text("cancelled", timeout=120_000)
    expect(cancel).to_be_disabled(timeout=30_000)
