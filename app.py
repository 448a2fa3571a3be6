"""Embedding Studio: `python app.py` serves the studio on http://127.0.0.1:7860 (also the Spaces entry)."""

import signal
import sys

from studio.generation import local_llm
from studio.errors import StudioError
from studio.ui.app import launch


def stop_with_the_studio() -> None:
    """The offline model's server (shared by the studio and its jobs) must not outlive them: the
    studio holds it, and its exit lets go (the last holder stops it). SIGTERM ends the studio
    through SystemExit, so that exit handlers run as they do on Ctrl-C."""
    local_llm.hold()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


if __name__ == "__main__":
    try:
        stop_with_the_studio()
        launch()
    except StudioError as error:  # e.g. a malformed STUDIO_AUTH: one line, no traceback
        sys.exit(f"error: {error}")
