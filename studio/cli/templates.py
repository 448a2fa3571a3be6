"""`templates` commands (being written)."""


def register(commands, parent) -> None:
    commands.add_parser("templates", parents=[parent], help="list, render and set prompt templates")
