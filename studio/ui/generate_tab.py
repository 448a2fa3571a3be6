"""The Generate tab (placeholder until this area lands)."""

import gradio as gr


def build(ctx) -> None:
    gr.Markdown("Generate (query, positive, hard negative) examples for the active tasks.\n\nThis tab is not available in this build yet.", elem_classes=["empty-state"])
