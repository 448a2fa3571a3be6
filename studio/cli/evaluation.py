"""`eval` commands (placeholder until this area lands)."""

from studio.errors import StudioError


def register(commands, parent) -> None:
    p = commands.add_parser("eval", parents=[parent], help="evaluate a model on a BEIR dataset")
    p.add_argument("--model", required=True)
    p.add_argument("--beir", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_pending)


def _pending(args):
    raise StudioError("this command is not available in this build yet")
