"""Start, resume and report generation jobs: what the Generate tab and the command line call.

The work itself (the plan, the requests, the recording) is studio.generation.examples.
"""

from storage import jobs as job_rows
from storage.db import open_db
from studio.errors import StudioError
from studio.generation.examples import (DEFAULT_CONCURRENCY, SAMPLE_FAILURES, Plan, create_plan, load_plan,
                                        root_job_id)
from studio.generation.llm import LLMSettings
from studio.prompts.families import load_family


# --- starting and resuming -----------------------------------------------------------------

def job_args(family: str, per_task: int, tasks: int | None, concurrency: int, settings: LLMSettings,
             batch_api: bool = False) -> dict:
    """What the job row shows: never the key."""
    return {"family": family, "per_task": per_task, "tasks": tasks, "concurrency": concurrency,
            "base_url": settings.base_url, "model": settings.model if not settings.offline else "smollm2",
            "batch_api": batch_api}


def argv_for(family: str, per_task: int, tasks: int | None, concurrency: int, batch_api: bool = False) -> list[str]:
    argv = ["generate", "--family", family, "--per-task", str(per_task), "--concurrency", str(concurrency)]
    if tasks:
        argv += ["--tasks", str(tasks)]
    if batch_api:
        argv.append("--batch-api")
    return argv


def launch_generate(db_path, settings: LLMSettings, family: str, per_task: int, tasks: int | None = None,
                    concurrency: int = DEFAULT_CONCURRENCY, batch_api: bool = False) -> int:
    """Start a generation job in the background; the key travels in the child's environment only."""
    from studio import jobs

    load_family(family)
    return jobs.launch(db_path, "generate", argv_for(family, per_task, tasks, concurrency, batch_api),
                       args=job_args(family, per_task, tasks, concurrency, settings, batch_api),
                       env=settings.child_env())


def launch_resume(db_path, settings: LLMSettings, job_id: int) -> int:
    from studio import jobs

    db = open_db(db_path)
    old = resumable_job(db, job_id)
    concurrency = int(old["args"].get("concurrency") or DEFAULT_CONCURRENCY)
    return jobs.launch(db_path, "generate", ["generate", "--resume", str(job_id), "--concurrency", str(concurrency)],
                       args={**old["args"], "resume_of": job_id}, env=settings.child_env(), resumed_from=job_id)


def resumable_job(db, job_id: int, exclude: int | None = None) -> dict:
    """The job to resume, checked: it exists, is a generation job, and nothing runs it now.
    `exclude` is the resuming job itself, when the studio created its row first."""
    from studio import jobs

    jobs.reap(db)
    old = job_rows.get_job(db, job_id)
    if old is None or old["kind"] != "generate":
        raise StudioError(f"there is no generation job {job_id}: check the id in the Generate tab")
    if old["state"] in job_rows.ACTIVE_STATES:
        raise StudioError(f"job {job_id} is still running: wait for it or cancel it first")
    later = db.execute("SELECT id FROM jobs WHERE resumed_from = ? AND state IN ('queued', 'running') AND id != ?",
                       [job_id, exclude or 0]).fetchone()
    if later:
        raise StudioError(f"job {job_id} is already being resumed by job {later[0]}")
    return old


def plan_for_job(db, job_id: int, family: str | None, per_task: int | None, tasks: int | None,
                 mode: str = "online", seed: int | None = None) -> Plan:
    """The plan this job works on: its resume chain's plan, or a new one it makes now."""
    root = root_job_id(db, job_id)
    plan = load_plan(db, root)
    if plan is not None:
        return plan
    if root != job_id:  # the first job died before planning: plan now from its arguments
        args = job_rows.get_job(db, root)["args"]
        family, per_task, tasks = args.get("family"), args.get("per_task"), args.get("tasks")
        mode = "batch" if args.get("batch_api") else mode
        job_id = root
    if not family or not per_task:
        raise StudioError("generate needs --family and --per-task (or --resume JOB_ID)")
    return create_plan(db, job_id, family, per_task, tasks, seed=seed, mode=mode)


# --- what the Generate tab shows -------------------------------------------------------------

def recent_jobs(db, limit: int = 20) -> list[dict]:
    return job_rows.list_jobs(db, kind="generate", limit=limit)


def job_report(db, job_id: int) -> dict | None:
    """A generation job's live numbers, for display."""
    job = job_rows.get_job(db, job_id)
    if job is None:
        return None
    stats = job["stats"] or {}
    failures = [{"reason": reason, "raw": (raw or "")[:300]} for reason, raw in db.execute(
        "SELECT reason, raw FROM generation_failures WHERE job_id = ? ORDER BY id DESC LIMIT ?",
        [job_id, SAMPLE_FAILURES]).fetchall()]
    total = job["total"] or stats.get("total") or 0
    done = job["done"] or 0
    active = job["state"] in job_rows.ACTIVE_STATES
    later = db.execute("SELECT 1 FROM jobs WHERE resumed_from = ? LIMIT 1", [job_id]).fetchone()
    unfinished = job["state"] in ("interrupted", "failed", "cancelled") or (job["state"] == "done" and done < total)
    return {
        "id": job_id, "state": job["state"], "family": job["args"].get("family"), "done": done, "total": total,
        "progress": job["progress"] or 0.0, "message": job["message"] or "", "error": job["error"] or "",
        "inserted": stats.get("inserted", 0), "duplicates": stats.get("duplicates", 0),
        "failed": stats.get("failed", 0), "request_errors": stats.get("request_errors", 0),
        "prompt_tokens": stats.get("prompt_tokens", 0), "completion_tokens": stats.get("completion_tokens", 0),
        "cost": stats.get("cost", 0.0), "cost_known": stats.get("cost_known", True),
        "examples_per_s": stats.get("examples_per_s", 0.0), "model": stats.get("model") or job["args"].get("model"),
        "mode": stats.get("mode", "online"), "resumed_from": job["resumed_from"],
        "failures": failures or stats.get("failure_samples", []),
        "cancellable": active and not job["cancel_requested"],
        "resumable": unfinished and not later,
    }
