"""Running the LLM steps' event loops: uvloop where it is installed, else asyncio's own loop.

A generation job spends most of its CPU in the event loop's socket and callback handling (64
connections, hundreds of replies a second); uvloop does that work in C, for about a third less
CPU per request (benchmarks/generate_throughput.py). It is a drop-in loop: the code is the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory():
    """The event loop constructor to use (None: asyncio's default)."""
    try:
        import uvloop
    except ImportError:  # not on every platform (Windows): asyncio's loop does the same, slower
        return None
    return uvloop.new_event_loop


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(coroutine) on the fastest loop at hand."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
