"""`python -m studio`: the command line. Each area registers its commands from its own module."""

import argparse
import sys

from studio.errors import StudioError


def common_parent() -> argparse.ArgumentParser:
    """Options every command takes."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--db", default=None, help="database file (default: $STUDIO_DATA_DIR/studio.db)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    from studio.cli import corpus, curation, evaluation, generation, serve, templates, training

    parser = argparse.ArgumentParser(prog="python -m studio", description="Embedding Studio")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = common_parent()
    for module in (serve, templates, generation, corpus, curation, training, evaluation):
        module.register(commands, parent)
    return parser


def db_path(args) -> str:
    from studio.config import default_db_path

    return str(args.db or default_db_path())




def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
