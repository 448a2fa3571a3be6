"""`brainstorm and generate` commands (placeholder until this area lands)."""

from studio.errors import StudioError


def register(commands, parent) -> None:
    p = commands.add_parser("brainstorm", parents=[parent], help="ask the LLM for new tasks of a family")
    p.add_argument("--family", required=True)
    p.add_argument("--n", type=int, default=20)
    p.set_defaults(func=_pending)
    p = commands.add_parser("generate", parents=[parent], help="generate examples for the active tasks")
    p.add_argument("--family", required=True)
    p.add_argument("--per-task", type=int, required=True)
    p.add_argument("--tasks", type=int, default=None)
    p.add_argument("--concurrency", type=int, default=16)
    p.set_defaults(func=_pending)


def _pending(args):
    raise StudioError("this command is not available in this build yet")
