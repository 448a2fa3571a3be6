class StudioError(Exception):
    """A failure the user can fix: its message is one sentence that says what to do."""
