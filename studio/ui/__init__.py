"""The Gradio face of the studio: one module per tab, each a thin layer over the engine."""
