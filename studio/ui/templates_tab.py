"""The Templates tab (being written)."""

import gradio as gr


def build(ctx) -> None:
    gr.Markdown("Edit the prompt templates of the six task families.", elem_classes=["empty-state"])
