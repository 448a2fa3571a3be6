"""StudioError is defined with the store (the ground floor) so that both layers raise the same one."""
from storage.errors import StudioError

__all__ = ["StudioError"]
