"""Embedding Studio: `python app.py` serves the studio on http://127.0.0.1:7860 (also the Spaces entry)."""

from studio.ui.app import launch

if __name__ == "__main__":
    launch()
