"""Starting a corpus's background jobs from the UI (grounded generation, mining, checks) and saying
where the latest ones stand. Each is `python -m studio …` in its own process, like every job."""

from storage import jobs as job_rows
from studio import jobs
from studio.errors import StudioError

CORPUS_KINDS = ("generate", "mining", "check")


def launch_mine(db_path, corpus: str, window: str = "10:50", max_ratio: float = 0.95, model: str = "minilm") -> int:
    from studio.corpus.mining import CorpusMiningSettings, parse_window

    rank_from, rank_to = parse_window(window)
    settings = CorpusMiningSettings(corpus=corpus, model=model, rank_from=rank_from, rank_to=rank_to,
                                    max_ratio=max_ratio)
    settings.check()
    return jobs.launch(db_path, "mining", ["mine", "--corpus", corpus, "--window", window, "--max-ratio",
                                           str(max_ratio), "--model", model], args=settings.as_args())


def launch_check(db_path, llm_settings, corpus: str, consistency_k: int = 20, judge: bool = False,
                 model: str = "minilm") -> int:
    """The judge's key (from the UI session or the server) travels in the child's environment only."""
    from studio.corpus.checks import CheckSettings

    settings = CheckSettings(corpus=corpus, model=model, consistency_k=consistency_k, judge=judge,
                             judge_model=llm_settings.model if judge else None,
                             judge_base_url=llm_settings.base_url if judge else None)
    settings.check()
    argv = ["check", "--corpus", corpus, "--consistency-k", str(consistency_k), "--model", model]
    if judge:
        argv.append("--judge")
        if llm_settings.model:
            argv += ["--judge-model", llm_settings.model]
    return jobs.launch(db_path, "check", argv, args=settings.as_args(),
                       env=llm_settings.child_env() if judge else None)


def latest_jobs(db, corpus: str, limit: int = 5) -> list[dict]:
    """The newest jobs that worked on this corpus (any of the three kinds), newest first."""
    jobs.reap(db)
    found = []
    for kind in CORPUS_KINDS:
        found += [job for job in job_rows.list_jobs(db, kind, limit=50) if job["args"].get("corpus") == corpus]
    return sorted(found, key=lambda job: job["id"], reverse=True)[:limit]


def describe_job(job: dict) -> str:
    what = {"generate": "generate", "mining": "mine", "check": "check"}[job["kind"]]
    if job["state"] in job_rows.ACTIVE_STATES:
        return f"⏳ {what} (job {job['id']}): {job['message'] or 'starting…'}"
    if job["state"] == "done":
        return f"✓ {what} (job {job['id']}): {job['message'] or 'done'}"
    return f"⚠ {what} (job {job['id']}) {job['state']}: {job['error'] or job['message'] or ''}"


def jobs_status(db, corpus: str | None) -> str:
    if not corpus:
        return "Choose a corpus to see its jobs."
    rows = latest_jobs(db, corpus)
    if not rows:
        return f"No jobs for corpus '{corpus}' yet."
    return "  \n".join(describe_job(job) for job in rows)


def refuse_if_running(db, corpus: str, kind: str) -> None:
    for job in latest_jobs(db, corpus):
        if job["kind"] == kind and job["state"] in job_rows.ACTIVE_STATES:
            raise StudioError(f"job {job['id']} is already working on '{corpus}': wait for it")
