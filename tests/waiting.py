"""Waiting in tests for what another process or thread does (a job's progress, a server's state)."""

import time


def wait_for(condition, timeout: float = 30.0, what: str = "the condition", interval: float = 0.05):
    """Poll `condition` until it returns something true, and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
