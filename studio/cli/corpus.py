"""`corpus add | list | remove`: a user's own documents on the command line."""

import json

from storage import corpora
from storage.db import open_db
from studio.embedding.precision import HELP as PRECISION_HELP, PRECISIONS
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
    register_check(commands, parent)
    register_proposals(commands, parent)


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


def register_check(commands, parent) -> None:
    p = commands.add_parser("check", parents=[parent], help="check examples against their corpus",
                            description="Flag each example of a corpus with reasons: not found (its positive is "
                                        "not in the top k passages for its query), copied (the query is its "
                                        "passage's words in order), wrong language, too long or short. With "
                                        "--judge, an LLM grades the top passages and proposes a better positive "
                                        "or a replacement for a negative it finds relevant; proposals wait for a "
                                        "person to accept them in Curate.")
    p.add_argument("--corpus", required=True, metavar="NAME")
    p.add_argument("--consistency-k", type=int, default=20, metavar="K",
                   help="the positive must be among the top K passages for its query (default 20)")
    p.add_argument("--model", default="minilm", help="embedding model for the round trip (default minilm)")
    p.add_argument("--status", default="all", choices=["accepted", "pending", "all"],
                   help="which examples to check (rejected ones never are)")
    p.add_argument("--judge", action="store_true", help="also let the LLM grade the top passages")
    p.add_argument("--judge-top", type=int, default=5, metavar="N", help="passages the judge grades per example")
    p.add_argument("--judge-model", default=None, help="the judge's LLM (default: STUDIO_LLM_MODEL)")
    p.add_argument("--base-url", default=None, help="the judge's endpoint (default: OPENAI_BASE_URL)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--job-id", type=int, default=None)
    p.set_defaults(func=run_check)


def run_check(args) -> int:
    from studio.cli import db_path
    from studio.corpus.checks import CheckSettings, run_check_job, summary
    from studio.jobs import JobContext

    settings = CheckSettings(corpus=args.corpus, model=args.model, consistency_k=args.consistency_k,
                             status=None if args.status == "all" else args.status, batch_size=args.batch_size,
                             judge=args.judge, judge_top=args.judge_top, judge_model=args.judge_model,
                             judge_base_url=args.base_url, precision=args.precision)
    settings.check()
    job = JobContext.for_command(db_path(args), args.job_id, "check", settings.as_args())
    print(summary(run_check_job(job, settings)))
    return 0


def register_proposals(commands, parent) -> None:
    p = commands.add_parser("proposals", help="list, accept or dismiss the judge's proposals",
                            description="The LLM judge of `check --judge` proposes new positives and replacements "
                                        "for false negatives; nothing changes until a person accepts them.")
    actions = p.add_subparsers(dest="proposals_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[parent], help="open proposals, one a line")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run_proposals_list)
    for name, verb in (("accept", "apply"), ("dismiss", "drop")):
        action = actions.add_parser(name, parents=[parent], help=f"{verb} proposals by id, or all open ones")
        action.add_argument("ids", nargs="*", type=int, metavar="ID")
        action.add_argument("--all", action="store_true", help="every open proposal")
        action.set_defaults(func=run_proposals_decide, decision=name)


def run_proposals_list(args) -> int:
    from studio.cli import db_path
    from studio.corpus.proposals import open_proposals

    rows = open_proposals(open_db(db_path(args)))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        print("no open proposals: run `check --corpus NAME --judge` to get some")
    for row in rows if not args.json else ():
        text = " ".join(row["text"].split())
        print(f"{row['id']}\texample {row['example_id']}\tnew {row['field']}: {text[:80]}\t{row['reason']}")
    return 0


def run_proposals_decide(args) -> int:
    from studio.cli import db_path
    from studio.corpus import proposals

    db = open_db(db_path(args))
    if args.all == bool(args.ids):
        raise StudioError(f"give the ids of the proposals to {args.decision}, or --all (not both)")
    ids = [row["id"] for row in proposals.open_proposals(db)] if args.all else args.ids
    done = (proposals.accept if args.decision == "accept" else proposals.dismiss)(db, ids, who="command line")
    print(f"{'accepted' if args.decision == 'accept' else 'dismissed'} {done} proposal(s)")
    return 0
