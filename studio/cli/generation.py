"""`brainstorm` and `generate`: thin wrappers over studio.generation.brainstorm and studio.generation.examples.

Both run in the foreground from a shell (with a job row, so the UI shows them) or as a
background job started by the UI (`--job-id`). An API key comes only from the environment.
"""

import sys

from storage import jobs as job_rows
from storage.db import open_db
from studio.errors import StudioError

DEFAULT_CONCURRENCY = 16  # studio.generation.examples's default; not imported here so that `--help` stays fast


def register(commands, parent) -> None:
    llm = _llm_parent()
    p = commands.add_parser("brainstorm", parents=[parent, llm], help="ask the LLM for new tasks of a family")
    p.add_argument("--family", required=True, help="short-long, long-short, short-short or long-long")
    p.add_argument("--n", type=int, default=20, help="how many new tasks to store (default 20)")
    p.add_argument("--seed", type=int, default=None, help="seed for the prompts (default: random)")
    p.set_defaults(func=run_brainstorm)

    p = commands.add_parser("generate", parents=[parent, llm], help="generate examples for the active tasks")
    p.add_argument("--family", help="the task family")
    p.add_argument("--per-task", type=int, help="examples per task (K)")
    p.add_argument("--tasks", type=int, default=None, help="use only the first N active tasks")
    p.add_argument("--concurrency", type=int, default=None,
                   help=f"requests in flight (default {DEFAULT_CONCURRENCY})")
    p.add_argument("--resume", type=int, default=None, metavar="JOB_ID",
                   help="finish the remaining work of an interrupted, failed or cancelled job")
    p.add_argument("--batch-api", action="store_true", help="use the OpenAI Batch API (cheaper, slower)")
    p.add_argument("--seed", type=int, default=None, help="seed for placeholders and variants (default: random)")
    grounded = p.add_argument_group("from a corpus (queries written from its passages; the passage is the positive)")
    grounded.add_argument("--corpus", metavar="NAME", help="write queries from this corpus's passages")
    grounded.add_argument("--passages", type=int, help="passages to sample across documents (N)")
    grounded.add_argument("--passage-ids", metavar="ID,ID,...",
                          help="exactly these passages of the corpus instead of sampling --passages")
    grounded.add_argument("--per-passage", type=int, help="queries per passage (K)")
    grounded.add_argument("--instruction", help="the retrieval task (default: brainstormed from 5 sampled passages)")
    grounded.add_argument("--task-id", type=int, help="use a task of the Tasks tab as the instruction")
    grounded.add_argument("--query-types", default=None, metavar="LIST",
                          help="weighted query types, e.g. 'a question:3, a keyword search:2, a claim to check:1'")
    grounded.add_argument("--language", default="English", help="language of the queries (default English)")
    grounded.add_argument("--summarise", action="store_true",
                          help="summarise each passage first (in English) and write its queries from passage and "
                               "summary: helps queries in other languages")
    weak = p.add_argument_group("more like the queries a model lost (the passages near theirs, from their corpus)")
    weak.add_argument("--like-weak", metavar="A_EVAL:B_EVAL",
                      help="two stored evaluations on a corpus's held-out queries: write queries for the passages "
                           "near those of the queries where B loses most to A")
    weak.add_argument("--weak-queries", type=int, default=None, metavar="N",
                      help="how many of B's worst queries (default 10)")
    weak.add_argument("--neighbours", type=int, default=None, metavar="K",
                      help="nearest passages per weak query (default 5)")
    p.set_defaults(func=run_generate)


def _llm_parent():
    import argparse

    llm = argparse.ArgumentParser(add_help=False)
    llm.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL; "
                                                      "none: the embedded offline model)")
    llm.add_argument("--model", default=None, help="model name (default: $STUDIO_LLM_MODEL)")
    llm.add_argument("--job-id", type=int, default=None, help="the job row to report to (set by the studio)")
    return llm


def _db_path(args) -> str:
    from studio.cli import db_path

    return db_path(args)


def _settle(job, error: BaseException) -> None:
    """Leave the job row in a final state whatever stopped the command."""
    row = job_rows.get_job(job.db, job.job_id)
    if row and row["state"] not in job_rows.ACTIVE_STATES:
        return
    if isinstance(error, KeyboardInterrupt):
        job_rows.finish_job(job.db, job.job_id, "interrupted", error="Stopped by the user; resume it to continue.")
    elif isinstance(error, StudioError):
        job.fail(str(error))
    else:
        job.fail(f"unexpected error ({type(error).__name__}: {error}); see the job's log")


def run_brainstorm(args) -> int:
    from studio.generation.brainstorm import brainstorm
    from studio.jobs import JobContext
    from studio.generation.llm import LLMSettings

    settings = LLMSettings.resolve(base_url=args.base_url, model=args.model)
    path = _db_path(args)
    job_args = {"family": args.family, "n": args.n, "base_url": settings.base_url,
                "model": "smollm2" if settings.offline else settings.model}
    job = JobContext.for_command(path, args.job_id, "brainstorm", job_args)
    try:
        result = brainstorm(path, args.family, args.n, settings, job=job, seed=args.seed)
    except BaseException as error:
        _settle(job, error)
        raise
    if job.cancel_requested():
        job.cancelled(result.as_dict())
    else:
        job.finish(result.as_dict(), message=result.summary())
    print(f"{result.summary()} (job {job.job_id})")
    return 0


def run_generate(args) -> int:
    from studio.generation import examples as generation, generation_jobs
    from studio.jobs import JobContext
    from studio.generation.llm import LLMSettings

    path = _db_path(args)
    db = open_db(path)
    resumes_grounded = args.resume is not None and (
        grounded_plan_of(db, args.resume) or (job_rows.get_job(db, args.resume) or {}).get("args", {}).get("corpus"))
    if args.corpus or args.like_weak or resumes_grounded:
        return run_generate_grounded(args, path, db)
    if args.resume is not None:
        old = generation_jobs.resumable_job(db, args.resume, exclude=args.job_id)
        old_args = old["args"]
        settings = LLMSettings.resolve(base_url=args.base_url or old_args.get("base_url"),
                                       model=args.model or old_args.get("model"))
        concurrency = args.concurrency or int(old_args.get("concurrency") or DEFAULT_CONCURRENCY)
        if args.job_id:
            job = JobContext.attach(path, args.job_id)
        else:
            job = JobContext.create(path, "generate", {**old_args, "resume_of": args.resume}, resumed_from=args.resume)
    else:
        if not args.family or args.per_task is None:
            raise StudioError("generate needs --family and --per-task (or --resume JOB_ID)")
        if args.per_task < 1 or (args.tasks is not None and args.tasks < 1) or (
                args.concurrency is not None and args.concurrency < 1):
            raise StudioError("--per-task, --tasks and --concurrency must be at least 1")
        settings = LLMSettings.resolve(base_url=args.base_url, model=args.model)
        concurrency = args.concurrency or DEFAULT_CONCURRENCY
        job = JobContext.for_command(path, args.job_id, "generate", generation_jobs.job_args(
            args.family, args.per_task, args.tasks, concurrency, settings, args.batch_api))
    try:
        plan = generation_jobs.plan_for_job(db, job.job_id, args.family, args.per_task, args.tasks,
                                       mode="batch" if args.batch_api else "online", seed=args.seed)
    except BaseException as error:
        _settle(job, error)
        raise
    if plan.mode == "batch":
        from studio.generation.batch_api import run_batch_generation

        work = lambda: run_batch_generation(path, job, plan, settings)  # noqa: E731
    else:
        work = lambda: generation.run_generation(path, job, plan, settings, concurrency=concurrency)  # noqa: E731
    return _run_and_report(db, job, work, lambda stats: generation.summary_line(plan, stats))


def _run_and_report(db, job, work, summary) -> int:
    """Run a generation job's `work`, settle the job's row if it raises, print its summary line;
    1 when the job failed."""
    try:
        stats = work()
    except BaseException as error:
        _settle(job, error)
        raise
    row = job_rows.get_job(db, job.job_id)
    print(f"{summary(stats)} (job {job.job_id}, {row['state']})")
    if row["state"] == "failed":
        print(f"error: {row['error']}", file=sys.stderr)
        return 1
    return 0


def grounded_plan_of(db, job_id: int):
    from studio.generation.grounded import plan_of_job

    return plan_of_job(db, job_id)


def run_generate_grounded(args, path: str, db) -> int:
    from studio.generation import generation_jobs, grounded
    from studio.generation.llm import LLMSettings
    from studio.jobs import JobContext

    if args.concurrency is not None and args.concurrency < 1:
        raise StudioError("--concurrency must be at least 1")
    if args.resume is not None:
        old_args = generation_jobs.resumable_job(db, args.resume, exclude=args.job_id)["args"]
        settings = LLMSettings.resolve(base_url=args.base_url or old_args.get("base_url"),
                                       model=args.model or old_args.get("model"))
        concurrency = args.concurrency or int(old_args.get("concurrency") or 8)
        job = (JobContext.attach(path, args.job_id) if args.job_id else
               JobContext.create(path, "generate", {**old_args, "resume_of": args.resume}, resumed_from=args.resume))
        plan = grounded.plan_of_job(db, job.job_id)
        if plan is None:   # stopped while choosing its passages (a task brainstorm, or --like-weak encoding)
            error = (f"job {args.resume} stopped before it had chosen its passages, so there is nothing to resume: "
                     "start it again with the same command")
            job.fail(error)
            raise StudioError(error)
    else:
        settings = LLMSettings.resolve(base_url=args.base_url, model=args.model)
        concurrency = args.concurrency or 8
        if args.like_weak:
            return run_generate_like_weak(args, path, db, settings, concurrency)
        passage_ids = grounded.parse_passage_ids(args.passage_ids) if args.passage_ids is not None else None
        if (args.passages is None and passage_ids is None) or args.per_passage is None:
            raise StudioError("generate --corpus needs --passages N and --per-passage K (or --passage-ids ID,... "
                              "instead of --passages)")
        if args.passages is not None and passage_ids is not None:
            raise StudioError("give --passages N or --passage-ids, not both")
        job = JobContext.for_command(path, args.job_id, "generate", grounded.job_args(
            args.corpus, args.passages or len(passage_ids), args.per_passage, concurrency, settings))
        try:
            plan = grounded.create_plan(db, job.job_id, args.corpus, args.passages, args.per_passage, settings,
                                        instruction=args.instruction, task_id=args.task_id,
                                        query_types=args.query_types or grounded.DEFAULT_QUERY_TYPES,
                                        language=args.language, seed=args.seed, passage_ids=passage_ids,
                                        summarise=args.summarise)
        except StudioError as error:
            job.fail(str(error))
            raise
    return _run_and_report(db, job, lambda: grounded.run_grounded(path, job, plan, settings, concurrency=concurrency),
                           lambda stats: grounded.summary_line(plan, stats))


def run_generate_like_weak(args, path: str, db, settings, concurrency: int) -> int:
    """`generate --like-weak A:B`: find the passages near B's worst queries (encoding the corpus with B's
    model the first time, as the job's progress), then write queries for them like `--passage-ids`."""
    from studio.corpus import weak_spots
    from studio.evaluation.embedding_cache import EncodingCancelled
    from studio.generation import grounded
    from studio.jobs import JobContext

    a_id, b_id = weak_spots.parse_pair(args.like_weak)
    if args.passages is not None or args.passage_ids is not None:
        raise StudioError("--like-weak chooses the passages itself: leave out --passages and --passage-ids")
    if args.per_passage is None:
        raise StudioError("generate --like-weak needs --per-passage K")
    n = args.weak_queries if args.weak_queries is not None else weak_spots.DEFAULT_QUERIES
    k = args.neighbours if args.neighbours is not None else weak_spots.DEFAULT_NEIGHBOURS
    a, _ = weak_spots.pair(db, a_id, b_id)
    corpus, _ = weak_spots.corpus_of(db, a)
    if args.corpus and args.corpus != corpus["name"]:
        raise StudioError(f"the queries of evaluations {a_id} and {b_id} come from corpus '{corpus['name']}', "
                          f"not '{args.corpus}'")
    job = JobContext.for_command(path, args.job_id, "generate", {
        **grounded.job_args(corpus["name"], None, args.per_passage, concurrency, settings),
        "like_weak": f"{a_id}:{b_id}", "weak_queries": n, "neighbours": k})
    try:
        job.progress(0, None, "finding the queries B loses most on")
        found = weak_spots.find(db, a_id, b_id, n, k, should_stop=job.cancel_requested,
                                progress=lambda done, total: job.progress(
                                    0, None, f"encoding corpus '{corpus['name']}' for neighbours {done}/{total}"))
        print(found.describe())
        plan = grounded.create_plan(db, job.job_id, corpus["name"], None, args.per_passage, settings,
                                    instruction=args.instruction or (None if args.task_id else found.instruction),
                                    task_id=args.task_id,
                                    query_types=args.query_types or grounded.DEFAULT_QUERY_TYPES,
                                    language=args.language, seed=args.seed, passage_ids=found.passage_ids,
                                    summarise=args.summarise)
    except EncodingCancelled:
        job.cancelled()
        print(f"cancelled while encoding corpus '{corpus['name']}' (job {job.job_id})")
        return 0
    except BaseException as error:
        _settle(job, error)
        raise
    return _run_and_report(db, job, lambda: grounded.run_grounded(path, job, plan, settings, concurrency=concurrency),
                           lambda stats: grounded.summary_line(plan, stats))
