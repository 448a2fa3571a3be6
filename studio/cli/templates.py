"""`templates list | render | set`: look at, preview and change the prompt templates."""

from pathlib import Path

from studio.errors import StudioError
from studio.prompts.families import FAMILIES


def register(commands, parent) -> None:
    parser = commands.add_parser("templates", parents=[parent], help="list, render and set prompt templates")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[parent], help="families and their active template versions")
    listing.set_defaults(func=list_templates)

    render = actions.add_parser("render", parents=[parent], help="print one rendered prompt")
    render.add_argument("family", choices=FAMILIES)
    render.add_argument("--seed", type=int, default=0, help="same seed, same prompt")
    render.add_argument("--kind", choices=["generate", "brainstorm"], default="generate")
    render.add_argument("--variant", default=None, help="a generation variant (default: drawn with the seed)")
    render.add_argument("--task", default=None, help="task text for families with brainstormed tasks")
    render.set_defaults(func=render_template)

    setter = actions.add_parser("set", parents=[parent], help="validate a template file and save it as a new version")
    setter.add_argument("family", choices=FAMILIES)
    setter.add_argument("--kind", choices=["generate", "brainstorm"], required=True)
    setter.add_argument("--file", required=True, help="the template text")
    setter.add_argument("--variant", default="v1", help="generation variant to replace or add (default v1)")
    setter.add_argument("--note", default=None)
    setter.set_defaults(func=set_template)


def _db(args):
    from storage.db import open_db
    from studio.cli import db_path

    return open_db(db_path(args))


def list_templates(args) -> int:
    from studio.prompts.versions import active_templates
    from studio.prompts.families import load_family

    db = _db(args)
    for name in FAMILIES:
        family = load_family(name)
        print(f"{name}: {family.title}")
        for kind in ("brainstorm", "generate"):
            if kind == "brainstorm" and not family.has_brainstorm:
                continue
            for row in active_templates(db, name, kind):
                print(f"  {kind:<10} {row['variant']:<8} version {row['version']:<3} ({row['source']}, {row['created_at'][:19]})")
    return 0


def render_template(args) -> int:
    from studio.prompts.templates import make_rng
    from studio.prompts.versions import render_prompt

    prompt = render_prompt(_db(args), args.family, args.kind, make_rng(args.seed), task=args.task,
                           variant=args.variant)
    print(prompt.text, end="" if prompt.text.endswith("\n") else "\n")
    return 0


def set_template(args) -> int:
    from studio.prompts.versions import save_template

    path = Path(args.file)
    if not path.is_file():
        raise StudioError(f"no such file: {args.file}")
    try:
        body = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise StudioError(f"{args.file} is not UTF-8 text") from None
    row = save_template(_db(args), args.family, args.kind, args.variant, body, note=args.note)
    print(f"saved {args.family} {row['kind']} {row['variant']} version {row['version']} (active)")
    return 0
