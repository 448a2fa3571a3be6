"""Generate examples: K per active task, each from a freshly sampled prompt, as a resumable job.

The work is planned once (which tasks, how many each, one seed) and every item's prompt is
drawn from its own random stream `make_rng(seed, item)`, so the plan is the same whenever it
is read again. An item is marked finished in the same transaction that stores its example (or
its failure), so a job killed at any moment loses nothing and a resume does exactly the items
that are not marked: no duplicates, no gaps.

Why one module of ~420 lines: planning, sending, reading and recording an item are one
resumable unit whose invariant (an item is finished in the transaction that stores it) is
easiest to check when it reads top to bottom in one place.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field

from storage import tasks as task_rows
from storage.db import now, open_db, transaction
from storage.examples import insert_examples
from storage import jobs as job_rows
from studio.errors import StudioError
from studio.prompts.families import Family, load_family
from studio.generation.llm import LOCAL_CONCURRENCY, LLMClient, LLMError, LLMSettings, TokenCount
from studio.generation.pool import LLMProcessPool, pool_size
from studio.generation.replies import ReplyError, parse_object
from studio.prompts.templates import make_rng
from studio.prompts.versions import render_prompt

DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 512
FLUSH_SECONDS = 0.25
FLUSH_ITEMS = 256
SAMPLE_FAILURES = 5
CANCEL_GRACE_SECONDS = 3.0  # after a cancel, how long requests in flight may still finish


@dataclass(frozen=True)
class Plan:
    id: int
    family: str
    per_task: int
    task_ids: tuple  # task ids; (None,) for families without tasks (sts, bitext)
    seed: int
    mode: str = "online"

    @property
    def total(self) -> int:
        return len(self.task_ids) * self.per_task

    def task_of(self, item: int) -> int | None:
        return self.task_ids[item // self.per_task]


def reply_schema(family: Family) -> dict:
    """JSON schema of a family's reply: an object of non-empty strings, exactly the output keys."""
    return {"type": "object", "properties": {key: {"type": "string"} for key in family.output_keys},
            "required": list(family.output_keys), "additionalProperties": False}


# --- plans ---------------------------------------------------------------------------------

def create_plan(db, job_id: int, family_name: str, per_task: int, tasks: int | None = None,
                seed: int | None = None, mode: str = "online") -> Plan:
    family = load_family(family_name)
    if per_task < 1:
        raise StudioError("--per-task must be at least 1")
    if tasks is not None and tasks < 1:
        raise StudioError("--tasks must be at least 1")
    if family.has_brainstorm:
        task_ids = tuple(task_rows.active_task_ids(db, family.name, limit=tasks))
        if not task_ids:
            raise StudioError(f"the {family.name} family has no active tasks: brainstorm some first "
                              f"(python -m studio brainstorm --family {family.name} --n 20)")
    else:
        task_ids = (None,) * (tasks or 1)  # sts and bitext need no task: K examples per "task slot"
    if seed is None:
        seed = int.from_bytes(os.urandom(6), "little")
    plan = Plan(job_id, family.name, per_task, task_ids, seed, mode)
    with transaction(db):
        db.execute("INSERT INTO generation_plans (id, family, per_task, task_ids, seed, total, mode, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [plan.id, plan.family, per_task, json.dumps(list(task_ids)), seed, plan.total, mode, now()])
    return plan


def load_plan(db, plan_id: int) -> Plan | None:
    row = db.execute("SELECT id, family, per_task, task_ids, seed, mode FROM generation_plans WHERE id = ?",
                     [plan_id]).fetchone()
    if row is None:
        return None
    return Plan(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5])


def root_job_id(db, job_id: int) -> int:
    """The first job of a resume chain: its id is the plan's id."""
    seen = set()
    while job_id not in seen:
        seen.add(job_id)
        job = job_rows.get_job(db, job_id)
        if job is None or not job.get("resumed_from"):
            return job_id
        job_id = job["resumed_from"]
    return job_id


def finished_items(db, plan_id: int) -> set[int]:
    return {row[0] for row in db.execute("SELECT item FROM generation_items WHERE plan_id = ?", [plan_id])}


def plan_counts(db, plan_id: int) -> dict[str, int]:
    counts = {"inserted": 0, "duplicate": 0, "failed": 0}
    for outcome, n in db.execute("SELECT outcome, COUNT(*) FROM generation_items WHERE plan_id = ? GROUP BY outcome",
                                 [plan_id]):
        counts[outcome] = n
    return counts


# --- one item ------------------------------------------------------------------------------

@dataclass
class Outcome(TokenCount):
    """One item's result; its token counts and cost add up all of its tries."""
    item: int
    row: dict | None = None            # the example to insert
    reason: str | None = None          # why it failed (an invalid reply, twice)
    raw: str | None = None
    task_id: int | None = None
    invalid_retries: int = 0

    def stamp_row(self) -> None:
        """The example records its task, and the tokens and cost of every try it took."""
        self.row.update(task_id=self.task_id, prompt_tokens=self.prompt_tokens,
                        completion_tokens=self.completion_tokens, cost=self.known_cost)


def example_row(family: Family, obj: dict, task_text: str | None, prompt, job_id: int, model: str, raw: str) -> dict:
    placeholders = prompt.placeholders
    language = placeholders.get("language") or placeholders.get("src_lang") or "English"
    return {"family": family.name, "language": language, **family.to_training(obj, task_text),
            "template_version_id": prompt.template_version_id,
            "placeholders": {**placeholders, "variant": prompt.variant}, "model": model, "raw_response": raw,
            "job_id": job_id, "source": "generated"}


def read_reply(family: Family, text: str, outcome: Outcome, task_text, prompt, job_id: int, model: str) -> bool:
    """Fill `outcome` from one reply; False when the reply is invalid (the reason is kept)."""
    try:
        obj = parse_object(text, family.output_keys)
    except ReplyError as error:
        outcome.reason, outcome.raw = str(error), text
        return False
    outcome.row = example_row(family, obj, task_text, prompt, job_id, model, text)
    outcome.reason = outcome.raw = None
    return True


async def generate_item(client: LLMClient, db, plan: Plan, family: Family, item: int, task_text: str | None,
                        job_id: int) -> Outcome:
    """One example; an invalid reply is asked again once (with a fresh prompt), then recorded as a failure.
    LLMError (the endpoint failed after its retries) propagates: the item stays unfinished."""
    rng = make_rng(plan.seed, item)
    outcome = Outcome(item, task_id=plan.task_of(item))
    schema = reply_schema(family)
    for attempt in range(2):
        prompt = render_prompt(db, family.name, "generate", rng, task=task_text)
        completion = await client.chat(prompt.text, schema=schema)
        outcome.add_tokens(completion.prompt_tokens, completion.completion_tokens, completion.cost)
        if read_reply(family, completion.text, outcome, task_text, prompt, job_id, completion.model):
            break
        outcome.invalid_retries += attempt == 0
    if outcome.row is not None:
        outcome.stamp_row()
    return outcome


# --- recording -----------------------------------------------------------------------------

@dataclass
class Stats(TokenCount):
    plan_id: int
    total: int
    mode: str = "online"
    model: str = ""
    done: int = 0               # items finished in the whole plan
    inserted: int = 0
    duplicates: int = 0
    failed: int = 0             # invalid replies after the one retry
    invalid_retries: int = 0
    request_errors: int = 0     # the endpoint failed after its retries; the item stays to do
    requests: int = 0
    retries: int = 0
    run_done: int = 0           # items finished by this job
    run_seconds: float = 0.0
    failure_samples: list = field(default_factory=list)

    def as_dict(self) -> dict:
        data = dict(self.__dict__)
        data["examples_per_s"] = round(self.run_done / self.run_seconds, 2) if self.run_seconds else 0.0
        data["cost"] = round(self.cost, 6)
        data["run_seconds"] = round(self.run_seconds, 2)
        return data

    @classmethod
    def carried_over(cls, previous: dict | None, plan: Plan, done: int) -> "Stats":
        """A resumed job continues the plan's counts (not its speed)."""
        stats = cls(plan_id=plan.id, total=plan.total, mode=plan.mode, done=done)
        for name in ("inserted", "duplicates", "failed", "invalid_retries", "request_errors", "requests",
                     "retries", "prompt_tokens", "completion_tokens", "cost"):
            if previous and isinstance(previous.get(name), (int, float)):
                setattr(stats, name, previous[name])
        if previous:
            stats.cost_known = bool(previous.get("cost_known", True))
            stats.failure_samples = list(previous.get("failure_samples") or [])[-SAMPLE_FAILURES:]
        return stats


class Recorder:
    """Buffers finished items and writes each batch, with the items' marks, in one transaction."""

    def __init__(self, db, plan: Plan, job_id: int, stats: Stats):
        self.db, self.plan, self.job_id, self.stats = db, plan, job_id, stats
        self.pending: list[Outcome] = []
        self.errors: list[tuple[int, str]] = []

    def add(self, outcome: Outcome) -> None:
        self.pending.append(outcome)

    def add_request_error(self, item: int, reason: str) -> None:
        self.errors.append((item, reason))

    def flush(self) -> None:
        if not self.pending and not self.errors:
            return
        pending, self.pending = self.pending, []
        errors, self.errors = self.errors, []
        stamp = now()
        stats = self.stats
        marks = []
        with transaction(self.db):
            stored = iter(self._insert_rows([outcome.row for outcome in pending if outcome.row is not None]))
            for outcome in pending:
                if outcome.row is not None:
                    example_id = next(stored)
                    kind = "inserted" if example_id is not None else "duplicate"
                else:
                    kind, example_id = "failed", None
                    self.db.execute("INSERT INTO generation_failures (job_id, task_id, family, reason, raw, created_at)"
                                    " VALUES (?, ?, ?, ?, ?, ?)",
                                    [self.job_id, outcome.task_id, self.plan.family, outcome.reason, outcome.raw, stamp])
                    stats.failure_samples = (stats.failure_samples + [
                        {"reason": outcome.reason, "raw": (outcome.raw or "")[:300]}])[-SAMPLE_FAILURES:]
                marks.append((self.plan.id, outcome.item, self.job_id, kind, example_id, stamp))
                stats.done += 1
                stats.run_done += 1
                stats.inserted += kind == "inserted"
                stats.duplicates += kind == "duplicate"
                stats.failed += kind == "failed"
                stats.invalid_retries += outcome.invalid_retries
                stats.add_tokens(outcome.prompt_tokens, outcome.completion_tokens, outcome.known_cost)
            self.db.conn.executemany("INSERT INTO generation_items (plan_id, item, job_id, outcome, example_id,"
                                     " created_at) VALUES (?, ?, ?, ?, ?, ?)", marks)
            for item, reason in errors:
                self.db.execute("INSERT INTO generation_failures (job_id, task_id, family, reason, raw, created_at)"
                                " VALUES (?, ?, ?, ?, NULL, ?)",
                                [self.job_id, self.plan.task_of(item), self.plan.family, reason, stamp])
                stats.request_errors += 1
                stats.failure_samples = (stats.failure_samples + [{"reason": reason, "raw": ""}])[-SAMPLE_FAILURES:]

    def _insert_rows(self, rows: list[dict]) -> list[int | None]:
        """Insert the rows in one call (one row at a time costs ~0.2 ms more per row); returns each
        row's new example id, or None for a duplicate."""
        return insert_examples(self.db, rows).row_ids if rows else []


# --- the job -------------------------------------------------------------------------------

def previous_stats(db, job_id: int) -> dict | None:
    job = job_rows.get_job(db, job_id)
    if job and job.get("resumed_from"):
        previous = job_rows.get_job(db, job["resumed_from"])
        return previous["stats"] if previous else None
    return None


class Run:
    """Shared state of one job's workers."""

    def __init__(self, job, db, plan: Plan, stats: Stats, recorder: Recorder, error_limit: int, client=None):
        self.job, self.db, self.plan, self.stats, self.recorder = job, db, plan, stats, recorder
        self.client = client
        self.base_requests, self.base_retries = stats.requests, stats.retries
        self.error_limit = error_limit
        self.error_streak = 0
        self.stop_reason: str | None = None   # set: workers take no new items
        self.fatal: str | None = None
        self.cancelled = False

    def report(self, started: float, message: str | None = None) -> None:
        self.recorder.flush()
        if self.client is not None:  # request counts so far: earlier jobs of the plan plus this one
            self.stats.requests = self.base_requests + self.client.usage.requests
            self.stats.retries = self.base_retries + self.client.usage.retries
        self.stats.run_seconds = time.perf_counter() - started
        self.job.progress(self.stats.done, self.plan.total, message or progress_message(self.stats),
                          self.stats.as_dict())


def summary_line(plan: Plan, stats: Stats) -> str:
    cost = f"${stats.cost:.4f}" if stats.cost_known else "cost unknown (no price for this model)"
    return (f"generated {plan.family}: {stats.inserted} new examples, {stats.duplicates} duplicates skipped, "
            f"{stats.failed} failed, {stats.request_errors} request errors, {stats.done} of {plan.total} done; "
            f"{stats.prompt_tokens + stats.completion_tokens} tokens, {cost}, "
            f"{stats.as_dict()['examples_per_s']} examples/s")


def progress_message(stats: Stats) -> str:
    parts = [f"{stats.done} of {stats.total} done", f"{stats.inserted} new"]
    if stats.duplicates:
        parts.append(f"{stats.duplicates} duplicates")
    if stats.failed:
        parts.append(f"{stats.failed} failed")
    if stats.request_errors:
        parts.append(f"{stats.request_errors} request errors")
    return ", ".join(parts)


def run_generation(db_path, job, plan: Plan, settings: LLMSettings, concurrency: int = DEFAULT_CONCURRENCY,
                   client: LLMClient | None = None, processes: int | None = None) -> Stats:
    """Do the plan's unfinished items with `concurrency` requests in flight; report to the job row.

    At high concurrency the requests go through worker processes (studio.generation.pool); `processes`
    sets how many (0: none, in this process; None: chosen from the concurrency and the cores)."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise StudioError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
    db = open_db(db_path)
    family = load_family(plan.family)
    done = finished_items(db, plan.id)
    remaining = [item for item in range(plan.total) if item not in done]
    stats = Stats.carried_over(previous_stats(db, job.job_id), plan, len(done))
    texts = task_rows.task_texts(db, [task for task in set(plan.task_ids) if task is not None])
    own_client = client is None
    if processes is None:
        processes = pool_size(min(concurrency, len(remaining)), settings)
    if own_client and processes and not settings.offline:
        client = LLMProcessPool(settings, processes)  # forks its workers: before the event loop starts
    return asyncio.run(_run(db, job, plan, family, remaining, texts, stats, settings, concurrency, client,
                            own_client))


async def _run(db, job, plan, family, remaining, texts, stats, settings, concurrency, client, own_client) -> Stats:
    client = client or LLMClient(settings)
    try:
        return await _work(db, job, plan, family, remaining, texts, stats, concurrency, client)
    finally:
        if own_client:
            await client.aclose()


async def _work(db, job, plan, family, remaining, texts, stats, concurrency, client) -> Stats:
    if client.is_local:
        concurrency = min(concurrency, LOCAL_CONCURRENCY)
    stats.model = client.model
    # With no price for the model the cost is unknown from the start, not $0 until the first reply.
    stats.cost_known = stats.cost_known and client.price_known
    recorder = Recorder(db, plan, job.job_id, stats)
    run = Run(job, db, plan, stats, recorder, error_limit=max(8, concurrency), client=client)
    started = time.perf_counter()
    run.report(started, f"starting: {len(remaining)} of {plan.total} to do with {client.model}")
    items = iter(remaining)

    async def worker():
        for item in items:
            if run.stop_reason:
                return
            task_id = plan.task_of(item)
            try:
                outcome = await generate_item(client, db, plan, family, item, texts.get(task_id), job.job_id)
            except LLMError as error:
                recorder.add_request_error(item, str(error))
                run.error_streak += 1
                if not error.transient or run.error_streak >= run.error_limit:
                    run.fatal = str(error)
                    run.stop_reason = "error"
                continue
            run.error_streak = 0
            recorder.add(outcome)
            if len(recorder.pending) >= FLUSH_ITEMS:
                recorder.flush()

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, max(1, len(remaining))))]

    async def reporter():
        cancelled_at = None
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            run.report(started)
            if not run.stop_reason and job.cancel_requested():
                run.stop_reason = "cancel"
            if run.stop_reason == "cancel":
                cancelled_at = cancelled_at or time.monotonic()
                if time.monotonic() - cancelled_at > CANCEL_GRACE_SECONDS:
                    for task in workers:  # a slow request must not hold up a cancel; its item stays to do
                        task.cancel()

    report_task = asyncio.create_task(reporter())
    try:
        for result in await asyncio.gather(*workers, return_exceptions=True):
            if isinstance(result, Exception):
                raise result
    finally:
        report_task.cancel()
        run.report(started)
    if run.stop_reason == "cancel":
        job.cancelled(stats.as_dict())
    elif run.fatal:
        job.fail(f"{run.fatal}. {stats.done} of {plan.total} items are done; resume the job to do the rest.",
                 stats.as_dict())
    else:
        left = plan.total - stats.done
        note = f"; {left} items hit endpoint errors: resume to retry them" if left else ""
        job.finish(stats.as_dict(), message=progress_message(stats) + note)
    return stats
