"""The corpus templates: stored versions like the families', validated, previewed with a real passage,
and what the jobs send; and their section of the Templates tab through gradio_client."""

import pytest

from storage.db import open_db
from studio.corpus import templates
from studio.corpus.importer import add_corpus
from studio.generation.grounded import create_plan, run_grounded
from studio.jobs import JobContext
from studio.prompts.templates import TemplateError
from tests.corpus_files import write_beir_corpus
from tests.fake_openai import fake  # noqa: F401 (a fixture)


def test_a_template_with_an_unknown_or_missing_placeholder_is_refused_and_nothing_changes(db_path):
    db = open_db(db_path)
    before = templates.active(db, "generate")
    with pytest.raises(TemplateError, match="unknown placeholder secret"):
        templates.save(db, "generate", "{{ passage }} {{ k }} {{ secret }}")
    for body in ("Write queries for {{ passage }}", "Write {{ k }} queries of {{ query_type }} for {{ passage }}"):
        with pytest.raises(TemplateError, match="must use either {{ query_type }}"):
            templates.save(db, "generate", body)
    with pytest.raises(TemplateError, match="attribute and item access"):
        templates.save(db, "judge", "{{ query.__class__ }} {{ passages }}")
    assert templates.active(db, "generate") == before and len(templates.history(db, "generate")) == 1


def test_preview_fills_in_a_real_passage_of_the_newest_corpus(db_path, tmp_path):
    db = open_db(db_path)
    assert templates.SAMPLE_TEXT in templates.preview(db, "generate", templates.default_body("generate"))
    add_corpus(db, write_beir_corpus(tmp_path / "c.jsonl", [("a", "Glaciers", "Glaciers carve valleys slowly.")]))
    text = templates.preview(db, "generate", templates.default_body("generate"))
    assert "Glaciers carve valleys slowly." in text and "Title: Glaciers" in text and "Write a question" in text
    assert "[1] (Glaciers) Glaciers carve valleys slowly." in templates.preview(db, "judge",
                                                                              templates.default_body("judge"))


def test_grounded_generation_sends_the_saved_version_and_records_it(db_path, tmp_path, fake):
    db = open_db(db_path)
    add_corpus(db, write_beir_corpus(tmp_path / "c.jsonl", [("a", "A", "Glaciers carve valleys slowly.")]),
               name="ice")
    saved = templates.save(db, "generate", "Task: {{ task }}\nPASSAGE {{ passage }}\n"
                                           "Write {{ k }} different queries as JSON {\"queries\": [...]}.")
    assert saved["version"] == 2
    settings = fake.settings()
    job = JobContext.create(db_path, "generate", {"corpus": "ice"})
    plan = create_plan(db, job.job_id, "ice", 1, 2, settings, instruction="Find it", seed=1)
    assert run_grounded(db_path, job, plan, settings)["inserted"] == 2
    prompt = fake.chat_requests()[-1].body["messages"][0]["content"]
    assert prompt.startswith("Task: Find it\nPASSAGE Glaciers carve valleys slowly.")
    assert {row[0] for row in db.execute("SELECT template_version_id FROM examples")} == {saved["id"]}
    assert templates.reset(db, "generate")["body"] == templates.default_body("generate")


def test_the_templates_tab_section_previews_saves_and_refuses(studio_client):
    rendered, message = studio_client.predict("judge", templates.default_body("judge"),
                                              api_name="/corpus_template_preview")
    assert "why are there two tides a day" in rendered and message == ""
    message, _ = studio_client.predict("judge", "{{ query }} {{ nope }} {{ passages }}", "",
                                       api_name="/corpus_template_save")
    assert message.startswith("⚠ Not saved: unknown placeholder nope")
    message, history = studio_client.predict("judge", "Grade {{ passages }} for {{ query }} as JSON grades.", "shorter",
                                             api_name="/corpus_template_save")
    assert message == "Saved version 2: new jobs use it."
    assert [row[:4] for row in history["data"]][0] == [2, "✓", "user", "shorter"]


def test_an_untouched_bundled_default_follows_the_bundled_file_and_an_edited_one_stays(db_path):
    db = open_db(db_path)
    first = templates.active(db, "generate")
    # As if the database had stored an older bundled default (asking for K queries as JSON).
    older = "{{ passage }}\nWrite {{ k }} different queries as JSON {\"queries\": [...]}."
    db.execute("UPDATE template_versions SET body = ? WHERE id = ?", [older, first["id"]])
    now_active = templates.active(db, "generate")
    assert now_active["body"] == templates.default_body("generate") and now_active["version"] == 2
    assert now_active["source"] == "default" and templates.history(db, "generate")[-1]["body"] == older
    edited = templates.save(db, "generate", older)
    assert templates.active(db, "generate")["id"] == edited["id"]
