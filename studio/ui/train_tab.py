"""The Train tab (placeholder until this area lands)."""

import gradio as gr


def build(ctx) -> None:
    gr.Markdown("Fine-tune an embedding model on the accepted examples.\n\nThis tab is not available in this build yet.", elem_classes=["empty-state"])
