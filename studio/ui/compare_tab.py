"""The Compare tab (placeholder until this area lands)."""

import gradio as gr


def build(ctx) -> None:
    gr.Markdown("Compare retrieval of a base model and a fine-tuned one, query by query.\n\nThis tab is not available in this build yet.", elem_classes=["empty-state"])
