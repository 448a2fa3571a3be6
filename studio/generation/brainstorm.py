"""Brainstorm: ask the LLM for lists of candidate tasks of a family and store the new ones."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from storage import tasks as task_rows
from storage.db import open_db
from studio.errors import StudioError
from studio.prompts.families import load_family
from studio.generation.llm import LOCAL_CONCURRENCY, LLMClient, LLMSettings, TokenCount
from studio.generation.replies import ReplyError, parse_list
from studio.prompts.templates import make_rng
from studio.prompts.versions import render_prompt

PER_CALL = 20          # the method asks for about 20 tasks per call
MAX_ROUNDS = 4         # rounds of calls that may add nothing before we give up
CANCEL_POLL_SECONDS = 0.5
LIST_SCHEMA = {"type": "array", "items": {"type": "string"}}


@dataclass
class BrainstormResult(TokenCount):
    family: str
    requested: int
    inserted: int = 0
    duplicates: int = 0
    calls: int = 0
    invalid_replies: int = 0
    model: str = ""
    task_ids: list | None = None
    last_error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        calls = "1 call" if self.calls == 1 else f"{self.calls} calls"
        text = f"brainstormed {self.inserted} new {self.family} tasks in {calls}"
        if self.duplicates:
            text += f", {_count(self.duplicates, 'near-duplicate')} dropped"
        if self.invalid_replies:
            text += f", {_count(self.invalid_replies, 'unreadable reply', 'unreadable replies')}"
        text += f"; {self.prompt_tokens + self.completion_tokens} tokens"
        if self.cost_known and self.cost:
            text += f", ${self.cost:.4f}"
        return text


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def brainstorm(db_path, family_name: str, n: int, settings: LLMSettings, job=None, seed: int | None = None,
               concurrency: int = 4, client: LLMClient | None = None) -> BrainstormResult:
    """Store up to `n` new active tasks for the family (fewer if the LLM keeps repeating itself)."""
    family = load_family(family_name)
    if not family.has_brainstorm:
        raise StudioError(f"the {family.name} family needs no tasks: generate its examples directly")
    if not 1 <= n <= 10_000:
        raise StudioError("ask for between 1 and 10000 tasks")
    db = open_db(db_path)
    return asyncio.run(_brainstorm(db, family, n, settings, job, seed, concurrency, client))


async def _brainstorm(db, family, n, settings, job, seed, concurrency, client) -> BrainstormResult:
    own_client = client is None
    client = client or LLMClient(settings)
    if client.is_local:
        concurrency = min(concurrency, LOCAL_CONCURRENCY)
    result = BrainstormResult(family.name, n, model=client.model, task_ids=[])
    rng = make_rng(seed)
    job_id = job.job_id if job else None
    idle_rounds = 0
    try:
        while result.inserted < n and idle_rounds < MAX_ROUNDS:
            if job and job.cancel_requested():
                break
            missing = n - result.inserted
            calls = min(concurrency, math.ceil(missing / PER_CALL))
            prompts = [render_prompt(db, family.name, "brainstorm", rng, n=min(PER_CALL, missing))
                       for _ in range(calls)]
            # The schema only binds the offline model (remote replies are parsed leniently instead).
            schema = {**LIST_SCHEMA, "maxItems": min(PER_CALL, missing)}
            replies = await _unless_cancelled(job, asyncio.gather(
                *(client.chat(p.text, schema=schema, json_reply=False) for p in prompts), return_exceptions=True))
            if replies is None:
                break
            before = result.inserted
            errors = [reply for reply in replies if isinstance(reply, BaseException)]
            for prompt, reply in zip(prompts, replies):
                if not isinstance(reply, BaseException):
                    _store(db, family.name, prompt, reply, result, n, job_id)
            if errors:
                raise errors[0]  # what was answered is stored; the endpoint's failure ends the run
            idle_rounds = idle_rounds + 1 if result.inserted == before else 0
            if job:
                job.progress(result.inserted, n, f"{result.inserted} of {n} new tasks", result.as_dict())
    finally:
        if own_client:
            await client.aclose()
    return result


async def _unless_cancelled(job, calls):
    """The replies of one round, or None when the job is cancelled first: a call to the offline
    model can take minutes, and a cancel must not wait for it (tasks already stored are kept)."""
    calls = asyncio.ensure_future(calls)
    while job is not None:
        done, _ = await asyncio.wait([calls], timeout=CANCEL_POLL_SECONDS)
        if done:
            break
        if job.cancel_requested():
            calls.cancel()
            await asyncio.gather(calls, return_exceptions=True)
            return None
    return await calls


def _store(db, family_name, prompt, reply, result: BrainstormResult, n: int, job_id) -> None:
    result.calls += 1
    result.add_tokens(reply.prompt_tokens, reply.completion_tokens, reply.cost)
    try:
        texts = parse_list(reply.text)
    except ReplyError as error:
        result.invalid_replies += 1
        result.last_error = str(error)
        return
    added = task_rows.add_tasks(db, family_name, texts, source="brainstorm",
                                template_version_id=prompt.template_version_id, model=reply.model,
                                raw_response=reply.text, job_id=job_id, limit=n - result.inserted)
    result.inserted += added.inserted
    result.duplicates += added.duplicates
    result.task_ids.extend(added.ids)


def launch_brainstorm(db_path, settings: LLMSettings, family: str, n: int) -> int:
    """Start brainstorming in the background (the offline model takes a while); returns the job id."""
    from studio import jobs

    load_family(family)
    args = {"family": family, "n": n, "base_url": settings.base_url,
            "model": settings.model if not settings.offline else "smollm2"}
    return jobs.launch(db_path, "brainstorm", ["brainstorm", "--family", family, "--n", str(n)], args=args,
                       env=settings.child_env())
