"""The one exception a user can cause and fix; the engine re-exports it as studio.errors.StudioError."""


class StudioError(Exception):
    """A failure the user can fix: its message is one sentence that says what to do."""
