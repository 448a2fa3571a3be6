"""The Tasks tab (placeholder until this area lands)."""

import gradio as gr


def build(ctx) -> None:
    gr.Markdown("Brainstorm candidate tasks with the LLM, then keep the good ones.\n\nThis tab is not available in this build yet.", elem_classes=["empty-state"])
