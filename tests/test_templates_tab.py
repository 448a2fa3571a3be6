"""The Templates tab, driven through gradio_client against a studio started as `python app.py`."""

import re

from storage.db import open_db
from studio.prompts.versions import active_template
from tests.browser import page, shot  # noqa: F401  (page is a fixture)

def value(output):
    """gradio_client returns component updates as dicts; the value is what a user sees."""
    return output["value"] if isinstance(output, dict) and output.get("__type__") == "update" else output


UNSAFE = "{{ ''.__class__ }} {{ task }} user_query positive_document hard_negative_document"


def test_every_family_loads_into_the_editor(studio_client):
    for family in ("short-long", "long-short", "short-short", "long-long", "sts", "bitext"):
        kind, variant, body, info, placeholders, history, status = studio_client.predict(
            family, "generate", "v1", api_name="/template_load")
        assert value(kind) == "generate" and value(variant) == "v1"
        assert "{{" in body and "Output keys" in info
        assert "language" in placeholders or "src_lang" in placeholders
        assert "version 1" in status


def test_render_shows_the_exact_prompt_for_a_seed(studio_client):
    _, _, body, *_ = studio_client.predict("sts", "generate", "v1", api_name="/template_load")
    text, values, note = studio_client.predict("sts", "generate", "v1", body, 7, api_name="/template_render")
    again, _, _ = studio_client.predict("sts", "generate", "v1", body, 7, api_name="/template_render")
    assert text == again and values["language"] in text and values["unit"] in text
    assert "saved" in note


def test_save_refuses_an_unsafe_template_and_keeps_the_active_one(studio, studio_client):
    before = active_template(open_db(studio.db_path), "short-long", "generate", "v2")["body"]
    status, _ = studio_client.predict("short-long", "generate", "v2", UNSAFE, "", api_name="/template_save")
    assert status.startswith("⚠ Not saved") and "previous version stays active" in status
    assert active_template(open_db(studio.db_path), "short-long", "generate", "v2")["body"] == before


def test_save_diff_revert_and_reset(studio, studio_client):
    _, _, body, *_ = studio_client.predict("long-long", "generate", "v1", api_name="/template_load")
    edited = body.replace("at least 300 words", "at least 400 words")
    status, history = studio_client.predict("long-long", "generate", "v1", edited, "longer", api_name="/template_save")
    assert "version 2" in status
    first_id = history["data"][-1][-1]
    diff = studio_client.predict("long-long", "generate", "v1", first_id, api_name="/template_diff")
    assert "-" in diff and "400 words" in diff
    status, restored, _ = studio_client.predict("long-long", "generate", "v1", first_id, api_name="/template_revert")
    assert restored == body and "version 1" in status
    studio_client.predict("long-long", "generate", "v1", edited, "again", api_name="/template_save")
    status, reset_body, history = studio_client.predict("long-long", "generate", "v1", api_name="/template_reset")
    assert "default" in status and reset_body.strip() == body.strip()
    assert len(history["data"]) == 5
    assert active_template(open_db(studio.db_path), "long-long", "generate", "v1")["version"] == 5


def test_unsaved_changes_hint_shows_while_the_text_differs_from_the_active_version(studio_client):
    _, _, body, *_ = studio_client.predict("sts", "generate", "v1", api_name="/template_load")
    assert studio_client.predict("sts", "generate", "v1", body, api_name="/template_unsaved") == ""
    hint = studio_client.predict("sts", "generate", "v1", body + "\nOne more line.", api_name="/template_unsaved")
    assert "Unsaved changes" in hint and "version 1" in hint


def test_syntax_error_has_one_full_stop_and_the_diff_no_stray_fence(studio, studio_client):
    status, _ = studio_client.predict("short-short", "generate", "v1", "{% if x %} unfinished", "",
                                      api_name="/template_save")
    assert "'if'. The previous version" in status and ".." not in status
    _, _, body, *_ = studio_client.predict("short-short", "generate", "v1", api_name="/template_load")
    _, history = studio_client.predict("short-short", "generate", "v1", body + "\nAnswer in JSON only.", "note",
                                       api_name="/template_save")
    diff = studio_client.predict("short-short", "generate", "v1", history["data"][-1][-1], api_name="/template_diff")
    assert diff.startswith("```diff\n") and diff.endswith("\n```") and diff.count("```") == 2


def test_the_editor_wraps_long_lines_in_the_browser(studio, page):
    from playwright.sync_api import expect

    page.goto(studio.url)
    expect(page.locator("#template-editor .cm-content")).to_have_class(re.compile("cm-lineWrapping"),
                                                                        timeout=30_000)
    page.locator("#template-editor .cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" and one more clause" * 12)
    expect(page.locator("#template-unsaved")).to_contain_text("Unsaved changes", timeout=30_000)
    shot(page, "templates-unsaved.png")
