"""`import and export` commands (placeholder until this area lands)."""

from studio.errors import StudioError


def register(commands, parent) -> None:
    p = commands.add_parser("import", parents=[parent], help="import JSONL or CSV examples")
    p.add_argument("file")
    p.add_argument("--status", default="pending", choices=["pending", "accepted"])
    p.set_defaults(func=_pending)
    p = commands.add_parser("export", parents=[parent], help="export examples")
    p.add_argument("--format", required=True, choices=["jsonl", "hf", "st"])
    p.add_argument("--out", required=True)
    p.add_argument("--status", default="accepted", choices=["accepted", "pending", "rejected", "all"])
    p.set_defaults(func=_pending)


def _pending(args):
    raise StudioError("this command is not available in this build yet")
