"""The Templates tab's section for the corpus templates (grounded queries, task brainstorm, judge):
edit, preview with a real passage, save as a new version, reset. Decisions in studio.corpus.templates."""

import gradio as gr

from storage.db import open_db
from studio.corpus import templates as corpus_templates
from studio.errors import StudioError

LABELS = {"generate": "Queries from a passage (grounded generation)",
          "summary": "Summary of a passage (asked first when a job summarises)",
          "brainstorm": "Task of a corpus (brainstorm from passages)",
          "judge": "Judge of retrieved passages (check --judge)"}
HELP = ("Templates of the Corpus tab's jobs. Placeholders: **queries** `{{ passage }}`, `{{ title }}`, `{{ language }}`, "
        "`{{ task }}`, and either `{{ query_type }}` (one query per request, a plain-text reply) or `{{ k }}` with "
        "`{{ query_types }}` (all of a passage's queries in one JSON reply), `{{ summary }}`; **summary** `{{ passage }}`, "
        "`{{ title }}`, `{{ language }}`; **task** `{{ passages }}`; **judge** `{{ query }}`, "
        "`{{ instruction }}`, `{{ passages }}`, `{{ count }}`. **Preview** fills them with a real passage of the "
        "newest corpus; **Save** validates and stores a new active version.")


def _history(db, name) -> list[list]:
    return [[row["version"], "✓" if row["active"] else "", row["source"], row["note"] or "", row["created_at"][:19]]
            for row in corpus_templates.history(db, name)]


def build(db_path):
    """Lay out and wire the section; returns (load, its inputs, its outputs) for the page's load event."""
    with gr.Accordion("Corpus templates", open=False):
        gr.Markdown(HELP, elem_classes=["help-text"])
        with gr.Row():
            with gr.Column(scale=3):
                name = gr.Dropdown([(label, key) for key, label in LABELS.items()], value="generate",
                                   label="Template")
                editor = gr.Textbox(lines=14, label="Template text", elem_id="corpus-template-editor")
                note = gr.Textbox(label="Note for this version (optional)")
                with gr.Row():
                    preview_button = gr.Button("Preview")
                    save_button = gr.Button("Save as new version", variant="primary")
                    reset_button = gr.Button("Reset to default")
                message = gr.Markdown()
            with gr.Column(scale=2):
                rendered = gr.Textbox(lines=16, label="Preview (a real passage)", interactive=False)
                history = gr.Dataframe(headers=["version", "active", "source", "note", "saved (UTC)"],
                                       interactive=False, label="Versions")

    def load(key):
        db = open_db(db_path)
        return corpus_templates.active(db, key)["body"], _history(db, key), ""

    def preview(key, body):
        try:
            return corpus_templates.preview(open_db(db_path), key, body), ""
        except StudioError as error:
            return "", f"⚠ {error}"

    def save(key, body, text):
        db = open_db(db_path)
        try:
            row = corpus_templates.save(db, key, body, (text or "").strip() or None)
        except StudioError as error:
            return f"⚠ Not saved: {error}", _history(db, key)
        return f"Saved version {row['version']}: new jobs use it.", _history(db, key)

    def reset(key):
        db = open_db(db_path)
        row = corpus_templates.reset(db, key)
        return row["body"], _history(db, key), f"Back to the default (version {row['version']})."

    name.change(load, [name], [editor, history, message], api_visibility="private")
    preview_button.click(preview, [name, editor], [rendered, message], api_name="corpus_template_preview")
    save_button.click(save, [name, editor, note], [message, history], api_name="corpus_template_save")
    reset_button.click(reset, [name], [editor, history, message], api_name="corpus_template_reset")
    return load, [name], [editor, history, message]
