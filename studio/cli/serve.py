"""`serve`: start the studio in the browser (same as `python app.py`)."""


def register(commands, parent) -> None:
    parser = commands.add_parser("serve", parents=[parent], help="start the studio web UI")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from studio.cli import db_path
    from studio.ui.app import launch

    launch(db_path=db_path(args), host=args.host, port=args.port)
    return 0
