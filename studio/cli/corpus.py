"""`corpus add | list | remove`: a user's own documents on the command line."""

import json

from storage import corpora
from storage.db import open_db
from studio.errors import StudioError


def register(commands, parent) -> None:
    from studio.corpus.chunking import DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS

    p = commands.add_parser("corpus", help="add, list or remove corpora (your own documents)",
                            description="A corpus is your own documents, split into passages that grounded "
                                        "generation, hard-negative mining and the checks read.")
    actions = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[parent], help="import a corpus",
                             description="Import a BEIR corpus.jsonl (_id, title, text), a JSONL or CSV with a "
                                         "text column (id and title optional), or a folder or .zip of .txt, .md, "
                                         ".html and .pdf files. Documents are split into passages of N words "
                                         "overlapping by M; identical passages are stored once.")
    add.add_argument("path")
    add.add_argument("--name", default=None, help="the corpus's name (default: the file's or folder's name)")
    add.add_argument("--chunk-words", type=int, default=DEFAULT_CHUNK_WORDS, metavar="N",
                     help=f"words per passage (default {DEFAULT_CHUNK_WORDS})")
    add.add_argument("--overlap-words", type=int, default=DEFAULT_OVERLAP_WORDS, metavar="M",
                     help=f"words shared by neighbouring passages (default {DEFAULT_OVERLAP_WORDS})")
    add.set_defaults(func=run_add)
    listing = actions.add_parser("list", parents=[parent], help="list corpora")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    listing.set_defaults(func=run_list)
    remove = actions.add_parser("remove", parents=[parent], help="remove a corpus and its passages")
    remove.add_argument("name")
    remove.set_defaults(func=run_remove)


def run_add(args) -> int:
    from studio.cli import db_path
    from studio.corpus.importer import add_corpus

    report = add_corpus(open_db(db_path(args)), args.path, name=args.name, chunk=args.chunk_words,
                        overlap=args.overlap_words)
    print(report.summary())
    return 0


def run_list(args) -> int:
    from studio.cli import db_path

    rows = corpora.list_corpora(open_db(db_path(args)))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not rows:
        print("no corpora yet: add one with `python -m studio corpus add PATH`")
        return 0
    for row in rows:
        print(f"{row['name']}\t{row['documents']} document(s)\t{row['passages']} passage(s)\t"
              f"{row['chunk_words']}/{row['overlap_words']} words\t{row['source']}")
    return 0


def run_remove(args) -> int:
    from studio.cli import db_path

    if not corpora.remove_corpus(open_db(db_path(args)), args.name):
        raise StudioError(f"there is no corpus named '{args.name}' (see `corpus list`)")
    print(f"removed corpus '{args.name}'")
    return 0
