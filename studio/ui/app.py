"""The studio's Gradio app: six tabs in the order of the loop, then help and the demo set."""

import os
from dataclasses import replace

import gradio as gr

from storage.db import open_db
from studio.auth import Editors, access_note, hf_sign_in_enabled, login_checker
from studio.ui import (access, compare_tab, corpus_tab, curate_tab, demo_offer, generate_tab, help_tab, tasks_tab,
                       templates_tab, train_tab)
from studio.ui.context import UIContext

TABS = [
    ("1 · Templates", templates_tab),
    ("2 · Tasks", tasks_tab),
    ("3 · Generate", generate_tab),
    ("Corpus", corpus_tab),
    ("4 · Curate", curate_tab),
    ("5 · Train", train_tab),
    ("6 · Compare", compare_tab),
    ("Help · demo", help_tab),
]

CSS = """
.help-text { color: var(--body-text-color-subdued); font-size: 0.9em; }
.empty-state { border: 1px dashed var(--border-color-primary); border-radius: 8px; padding: 12px 16px; }
.error-text { color: var(--error-text-color, #b91c1c); }
"""


def build_app(db_path, editors: Editors | None = None) -> gr.Blocks:
    """The studio; with `editors` (a Space with Hugging Face sign-in) only they may change data."""
    open_db(db_path)  # create and migrate before any tab reads
    with gr.Blocks(title="Embedding Studio") as app:
        gr.Markdown(
            "# Embedding Studio\n"
            "Make a text embedding model better with LLM-written training data: edit prompts, "
            "brainstorm tasks, generate and curate examples, train, then compare retrieval."
        )
        if editors is not None:
            access.build_sign_in(app, editors)
        ctx = UIContext(db_path=str(db_path), llm_settings=gr.State({}), blocks=app)
        demo_offer.build(ctx)
        with gr.Tabs():
            for title, module in TABS:
                with gr.Tab(title, id=module.__name__.rsplit(".", 1)[-1]) as tab:
                    module.build(replace(ctx, tab=tab))
    if editors is not None:
        access.guard_changes(app, editors)
    return app


def launch(db_path=None, host: str | None = None, port: int | None = None) -> None:
    from studio.config import default_db_path

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    checker = login_checker()  # a malformed STUDIO_AUTH stops the start, before anything is served
    # On a Space with hf_oauth: true; a malformed STUDIO_HF_EDITORS stops the start too.
    editors = Editors.from_env() if hf_sign_in_enabled() else None
    note = access_note()
    if note:
        print(note, flush=True)
    db_path = db_path or default_db_path()
    app = build_app(db_path, editors)
    app.queue(default_concurrency_limit=8)
    app.launch(
        server_name=host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        css=CSS,
        footer_links=["api"],
        auth=checker,
        auth_message="Sign in with the user name and password given in STUDIO_AUTH." if checker else None,
    )
