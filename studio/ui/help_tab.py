"""The Help tab: what each step does, where the settings are, and the demo set at any time.

The first-run offer (demo_offer) shows only on an empty database; here the demo can be loaded
beside one's own work whenever wanted, and removed again.
"""

import gradio as gr

from studio.demo.loader import demo_available, demo_rows, load_demo, remove_demo
from studio.errors import StudioError
from studio.ui.demo_offer import loaded_text

GUIDE = """**The loop, one tab a step.**
1. **Templates**: the prompts the LLM receives, one set per task family; render one for a seed, save a new version.
2. **Tasks**: the LLM brainstorms retrieval tasks for a family; accept the good ones.
3. **Generate**: one example (query, positive, hard negative) per task, written by the LLM in the background.
4. **Curate**: read, search, fix, accept or reject examples; import and export; quality signals and mining.
5. **Train**: fine-tune an embedding model on the accepted examples; the loss curve updates while it runs.
6. **Compare**: the base model against the fine-tuned one on held-out examples or a BEIR folder.

**Settings.** The LLM endpoint, model, key and concurrency are set in **3 · Generate** (a key typed there stays
in this browser session only). With none, a small LLM bundled with the studio writes the data offline. The data
folder is `$STUDIO_DATA_DIR` (default `./data`); everything lives in its `studio.db`. The same engine runs from
the command line: `python -m studio --help`."""

DEMO_HELP = ("The **demo set**: hand-written examples in all six task families and nine languages, their tasks, "
             "and one small pre-computed training run with its comparison. Demo rows are marked *demo* and sit "
             "beside your own; loading twice adds nothing, and removing them leaves your own rows as they are.")


def describe_demo(db_path) -> str:
    rows = demo_rows(db_path)
    if not rows.any:
        return "The demo set is not loaded."
    return f"Loaded now: {rows.describe()}."


def build(ctx) -> None:
    gr.Markdown(GUIDE)
    if not demo_available():
        gr.Markdown("This installation ships without the demo set.", elem_classes=["help-text"])
        return
    with gr.Group():
        gr.Markdown(DEMO_HELP, elem_classes=["help-text"])
        state = gr.Markdown(elem_id="help-demo-state")
        with gr.Row():
            load = gr.Button("Load the demo set", variant="primary", elem_id="help-demo-load", scale=0, min_width=220)
            remove = gr.Button("Remove demo rows", variant="stop", elem_id="help-demo-remove", scale=0,
                               min_width=220)
        result = gr.Markdown(elem_id="help-demo-result")

    def load_it():
        try:
            text = loaded_text(load_demo(ctx.db_path))
        except StudioError as error:
            text = f"⚠ Could not load the demo: {error}"
        return describe_demo(ctx.db_path), text

    def remove_it():
        try:
            removed = remove_demo(ctx.db_path)
        except StudioError as error:
            return describe_demo(ctx.db_path), f"⚠ Could not remove the demo rows: {error}"
        text = (f"Removed {removed.describe()}. Your own rows are untouched; *Load the demo set* brings the demo back."
                if removed.any else "There were no demo rows to remove.")
        return describe_demo(ctx.db_path), text

    ctx.tab.select(lambda: describe_demo(ctx.db_path), outputs=state, show_progress="hidden",
                   api_visibility="private")
    ctx.blocks.load(lambda: describe_demo(ctx.db_path), outputs=state, show_progress="hidden",
                    api_visibility="private")
    load.click(load_it, outputs=[state, result], show_progress="full", api_name="help_demo_load")
    remove.click(remove_it, outputs=[state, result], show_progress="full", api_name="demo_remove")
