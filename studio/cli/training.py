"""`train` commands (placeholder until this area lands)."""

from studio.errors import StudioError


def register(commands, parent) -> None:
    p = commands.add_parser("train", parents=[parent], help="fine-tune an embedding model on accepted examples")
    p.add_argument("--base-model", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_pending)


def _pending(args):
    raise StudioError("this command is not available in this build yet")
