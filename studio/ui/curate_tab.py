"""The Curate tab (placeholder until this area lands)."""

import gradio as gr


def build(ctx) -> None:
    gr.Markdown("Review, filter, edit, accept and reject examples; import and export.\n\nThis tab is not available in this build yet.", elem_classes=["empty-state"])
