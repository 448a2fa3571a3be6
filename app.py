"""Embedding Studio: `python app.py` serves the studio on http://127.0.0.1:7860 (also the Spaces entry)."""

import sys

from studio.errors import StudioError
from studio.ui.app import launch

if __name__ == "__main__":
    try:
        launch()
    except StudioError as error:  # e.g. a malformed STUDIO_AUTH: one line, no traceback
        sys.exit(f"error: {error}")
