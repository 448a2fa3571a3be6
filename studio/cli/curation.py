"""`import`, `export`, `quality` and `mine`: the curation area on the command line."""

from storage.curation import FLAGS, ExampleFilter
from storage.db import open_db
from studio.embedding.precision import HELP as PRECISION_HELP, PRECISIONS
from studio.errors import StudioError


def _add_filters(parser) -> None:
    group = parser.add_argument_group("filters (all optional; they combine)")
    group.add_argument("--family")
    group.add_argument("--language")
    group.add_argument("--model", dest="filter_model", metavar="MODEL", help="the LLM that wrote the example")
    group.add_argument("--task-id", type=int)
    group.add_argument("--template-version-id", type=int)
    group.add_argument("--flag", action="append", default=[], choices=sorted(FLAGS),
                       help="quality flag that must hold (repeatable)")
    group.add_argument("--search", help="words that must occur in query, positive or negative")


def _filter(args) -> ExampleFilter:
    return ExampleFilter(family=args.family, language=args.language, model=args.filter_model,
                         task_id=args.task_id, template_version_id=args.template_version_id,
                         flags=tuple(args.flag), search=args.search)


def register(commands, parent) -> None:
    from studio.curation.exchange import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS

    p = commands.add_parser("import", parents=[parent], help="import JSONL or CSV examples",
                            description="Import examples (one per line: query, positive, negative, instruction, "
                                        "family, language). A file with bad lines is refused whole unless "
                                        "--skip-bad is given.")
    p.add_argument("file")
    p.add_argument("--status", default="pending", choices=["pending", "accepted"])
    p.add_argument("--skip-bad", action="store_true", help="import the good lines and list the bad ones")
    p.add_argument("--max-mb", type=float, default=MAX_IMPORT_BYTES / 2**20, help="refuse larger files")
    p.add_argument("--max-rows", type=int, default=MAX_IMPORT_ROWS, help="refuse files with more examples")
    p.set_defaults(func=run_import)

    p = commands.add_parser("export", parents=[parent], help="export examples",
                            description="Export examples as JSONL, a Hugging Face datasets folder (hf) or "
                                        "sentence-transformers anchor/positive/negative rows (st; the anchor "
                                        "carries the instruction as 'Instruct: ...\\nQuery: ...').")
    p.add_argument("--format", required=True, choices=["jsonl", "hf", "st"])
    p.add_argument("--out", required=True, help="a file (jsonl, st: .jsonl or .parquet) or a folder (hf)")
    p.add_argument("--status", default="accepted", choices=["accepted", "pending", "rejected", "all"])
    _add_filters(p)
    p.set_defaults(func=run_export)

    p = commands.add_parser("quality", parents=[parent], help="compute quality signals for examples",
                            description="Margins, near-duplicate groups, length and language checks, stored per "
                                        "example (a background job when started from the UI).")
    p.add_argument("--model", default="minilm", help="embedding model: minilm, smollm2, a folder or a hub id")
    p.add_argument("--dup-threshold", type=float, default=0.95, help="cosine above which examples are near-duplicates")
    p.add_argument("--status", default="all", choices=["accepted", "pending", "rejected", "all"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--job-id", type=int, default=None)
    p.set_defaults(func=run_quality)

    p = commands.add_parser("mine", parents=[parent], help="mine hard negatives for examples without one",
                            description="For each example without a negative, rank the curated pool with an "
                                        "embedding model and take a negative from a rank window (e.g. 10-50), "
                                        "skipping the top ranks that are likely true positives.")
    p.add_argument("--model", default="minilm")
    p.add_argument("--families", default="short-short,long-long",
                   help="comma-separated families, or 'any' for every example without a negative")
    p.add_argument("--rank-from", type=int, default=10)
    p.add_argument("--rank-to", type=int, default=50)
    p.add_argument("--pool", default="accepted", choices=["accepted", "not-rejected"],
                   help="which examples' documents form the pool")
    p.add_argument("--status", default="all", choices=["accepted", "pending", "rejected", "all"],
                   help="which examples get negatives")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--job-id", type=int, default=None)
    corpus = p.add_argument_group("from a corpus (examples whose positive is one of its passages)")
    corpus.add_argument("--corpus", metavar="NAME", help="rank the corpus's passages instead of the curated pool; "
                        "never a passage of the positive's own document")
    corpus.add_argument("--window", default="10:50", metavar="FROM:TO", help="rank window (default 10:50)")
    corpus.add_argument("--max-ratio", type=float, default=0.95,
                        help="a candidate scoring above this share of the positive's score is not a negative")
    corpus.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.set_defaults(func=run_mine)


def run_import(args) -> int:
    from studio.cli import db_path
    from studio.curation.exchange import import_file

    report = import_file(open_db(db_path(args)), args.file, status=args.status, skip_bad=args.skip_bad,
                         max_bytes=int(args.max_mb * 2**20), max_rows=args.max_rows)
    print(report.summary())
    return 0


def run_export(args) -> int:
    from studio.cli import db_path
    from studio.curation.exchange import export

    report = export(open_db(db_path(args)), args.format, args.out, status=args.status, flt=_filter(args))
    print(report.summary())
    return 0


def _status(value: str):
    return None if value == "all" else value


def run_quality(args) -> int:
    from studio.cli import db_path
    from studio.curation.quality import QualitySettings, run_quality_job
    from studio.jobs import JobContext

    settings = QualitySettings(model=args.model, dup_threshold=args.dup_threshold, status=_status(args.status),
                               batch_size=args.batch_size)
    job = JobContext.for_command(db_path(args), args.job_id, "quality", settings.as_args())
    stats = run_quality_job(job, settings)
    print(f"quality signals for {stats['examples']} example(s): {stats['margin_flags']} margin flag(s), "
          f"{stats['dup_groups']} near-duplicate group(s), {stats['length_flags']} length flag(s), "
          f"{stats['language_flags']} language mismatch(es), {stats['empty_flags']} empty field(s)")
    return 0


def run_mine(args) -> int:
    from studio.cli import db_path
    from studio.curation.mining import MiningSettings, run_mining_job
    from studio.jobs import JobContext

    if args.corpus:
        return run_mine_corpus(args)
    families = None if args.families.strip() == "any" else tuple(
        name.strip() for name in args.families.split(",") if name.strip())
    if args.rank_from < 1 or args.rank_to <= args.rank_from:
        raise StudioError("the rank window needs 1 <= --rank-from < --rank-to, e.g. 10 and 50")
    settings = MiningSettings(model=args.model, families=families, rank_from=args.rank_from, rank_to=args.rank_to,
                              pool=args.pool, status=_status(args.status), seed=args.seed,
                              batch_size=args.batch_size)
    job = JobContext.for_command(db_path(args), args.job_id, "mining", settings.as_args())
    stats = run_mining_job(job, settings)
    print(f"mined {stats['mined']} negative(s); {stats['skipped']} example(s) skipped "
          f"(pool of {stats['pool']} document(s))")
    return 0


def run_mine_corpus(args) -> int:
    from studio.cli import db_path
    from studio.corpus.mining import CorpusMiningSettings, parse_window, run_corpus_mining_job, summary
    from studio.jobs import JobContext

    rank_from, rank_to = parse_window(args.window)
    settings = CorpusMiningSettings(corpus=args.corpus, model=args.model, rank_from=rank_from, rank_to=rank_to,
                                    max_ratio=args.max_ratio, status=_status(args.status), seed=args.seed,
                                    batch_size=args.batch_size, precision=args.precision)
    settings.check()
    job = JobContext.for_command(db_path(args), args.job_id, "mining", settings.as_args())
    print(summary(run_corpus_mining_job(job, settings)))
    return 0
