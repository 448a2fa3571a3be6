"""The first-run offer: on an empty database, a banner that loads the bundled demo set."""

import gradio as gr

from studio.demo.loader import (DemoLoadResult, database_is_empty, demo_available, demo_examples, demo_tasks,
                                load_demo)
from studio.errors import StudioError


def offer_text() -> str:
    examples = demo_examples()
    families = len({row["family"] for row in examples})
    languages = len({row["language"] for row in examples})
    return (f"**New here?** The database is empty. Load the bundled demo set to see every tab with something in "
            f"it: {len(examples)} hand-written examples in {families} task families and {languages} languages, "
            f"{len(demo_tasks())} tasks, and a small pre-computed training run with its base-versus-fine-tuned "
            "comparison. Demo rows are marked *demo*; the **Help** tab loads or removes them at any time.")


def loaded_text(result: DemoLoadResult) -> str:
    """What a load of the demo set did, in words."""
    if not (result.examples_added or result.tasks_added or result.comparison_added):
        return "The demo set is already loaded: nothing was added."
    parts = [f"{result.examples_added} examples", f"{result.tasks_added} tasks"]
    if result.comparison_added:
        parts.append("one pre-computed training run with its comparison")
    return (f"Demo loaded: {', '.join(parts)}. Read the examples in the Curate tab (4), or see the comparison in "
            "the Compare tab (6).")


def build(ctx) -> None:
    if not demo_available():
        return
    with gr.Group(visible=False, elem_id="demo-offer") as offer:
        gr.Markdown(offer_text(), elem_classes=["empty-state"])
        with gr.Row():
            load = gr.Button("Load the demo set", variant="primary", elem_id="demo-load", scale=0, min_width=220)
            dismiss = gr.Button("No thanks", elem_id="demo-dismiss", scale=0, min_width=140)
    status = gr.Markdown(visible=False, elem_id="demo-status")
    # While the offer shows, look now and then whether data arrived some other way (generation,
    # import): then "the database is empty" is no longer true and the offer goes away.
    watch = gr.Timer(3.0, active=False)

    def show_offer():
        empty = database_is_empty(ctx.db_path)
        return gr.Group(visible=empty), gr.Timer(active=empty)

    def still_empty():
        if database_is_empty(ctx.db_path):
            return gr.Group(), gr.Timer()
        return gr.Group(visible=False), gr.Timer(active=False)

    def load_it():
        try:
            result = load_demo(ctx.db_path)
        except StudioError as error:
            return gr.Group(visible=True), gr.Markdown(f"Could not load the demo: {error}", visible=True)
        return gr.Group(visible=False), gr.Markdown(loaded_text(result), visible=True)

    ctx.blocks.load(show_offer, outputs=[offer, watch], show_progress="hidden", api_visibility="private")
    watch.tick(still_empty, outputs=[offer, watch], show_progress="hidden", api_visibility="private")
    load.click(load_it, outputs=[offer, status], show_progress="full", api_name="demo_load")
    dismiss.click(lambda: (gr.Group(visible=False), gr.Timer(active=False)), outputs=[offer, watch],
                  api_visibility="private")
