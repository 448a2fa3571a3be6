"""Generation through the OpenAI Batch API: cheaper and slower, for large jobs.

Round 1 sends one request per unfinished item of the plan; round 2 re-asks, once, the items
whose reply was invalid (or errored). Each round writes a requests file, uploads it, creates a
batch, polls it, and reads the output file through the same validation as online generation
(studio.generation.examples.read_reply and its Recorder). The batch id is kept in the job's stats, so a
resumed job picks up a batch that is still running instead of paying for it twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import openai

from storage.db import open_db
from studio.config import data_dir
from studio.errors import StudioError
from studio.prompts.families import load_family
from studio.generation.examples import (Outcome, Plan, Recorder, Stats, finished_items, previous_stats, progress_message,
                               read_reply, reply_schema)
from studio.generation.llm import LLMClient, LLMError, LLMSettings, TEMPERATURE, TOP_P
from studio.generation.prices import estimate_cost
from studio.prompts.templates import make_rng
from studio.prompts.versions import render_prompt

ENDPOINT = "/v1/chat/completions"
FINAL_STATES = ("completed", "failed", "expired", "cancelled")
BATCH_DISCOUNT = 0.5  # the Batch API bills half the online price
ROUNDS = 2


def poll_seconds() -> float:
    return float(os.environ.get("STUDIO_BATCH_POLL_SECONDS") or 30)


def custom_id(plan: Plan, item: int, round_: int) -> str:
    return f"plan-{plan.id}-item-{item}-round-{round_}"


def parse_custom_id(value: str) -> tuple[int, int, int]:
    parts = value.split("-")
    return int(parts[1]), int(parts[3]), int(parts[5])


def item_prompt(db, plan: Plan, item: int, round_: int, task_text: str | None):
    """The prompt of an item's n-th try: the same draws the online path would make."""
    rng = make_rng(plan.seed, item)
    prompt = None
    for _ in range(round_):
        prompt = render_prompt(db, plan.family, "generate", rng, task=task_text)
    return prompt


def write_requests(path, requests: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for request in requests:
            handle.write(json.dumps(request, ensure_ascii=False) + "\n")


def run_batch_generation(db_path, job, plan: Plan, settings: LLMSettings, poll: float | None = None) -> Stats:
    if settings.offline:
        raise StudioError("the Batch API needs an OpenAI endpoint: set a base URL and key, or generate without "
                          "--batch-api")
    db = open_db(db_path)
    return asyncio.run(_run(db, job, plan, settings, poll if poll is not None else poll_seconds()))


async def _run(db, job, plan: Plan, settings: LLMSettings, poll: float) -> Stats:
    from storage import tasks as task_rows

    family = load_family(plan.family)
    schema = reply_schema(family)
    done = finished_items(db, plan.id)
    previous = previous_stats(db, job.job_id) or {}
    stats = Stats.carried_over(previous, plan, len(done))
    stats.mode = "batch"
    texts = task_rows.task_texts(db, [task for task in set(plan.task_ids) if task is not None])
    client = LLMClient(settings)
    stats.model = client.model
    price = settings.price(client.model)
    recorder = Recorder(db, plan, job.job_id, stats)
    started = time.perf_counter()
    folder = data_dir() / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    batch_state = dict(previous.get("batch") or {})
    retry: dict[int, Outcome] = {}

    def report(message: str) -> None:
        recorder.flush()
        stats.run_seconds = time.perf_counter() - started
        job.progress(stats.done, plan.total, message, {**stats.as_dict(), "batch": batch_state})

    try:
        for round_ in range(1, ROUNDS + 1):
            done = finished_items(db, plan.id)
            if round_ == 1:
                items = [item for item in range(plan.total) if item not in done]
            else:
                items = [item for item in sorted(retry) if item not in done]
            if not items:
                continue
            resume_batch = batch_state.get("id") if batch_state.get("round") == round_ and not batch_state.get(
                "ingested") else None
            prompts = {item: item_prompt(db, plan, item, round_, texts.get(plan.task_of(item))) for item in items}
            if resume_batch:
                batch_id = resume_batch
            else:
                requests = [{"custom_id": custom_id(plan, item, round_), "method": "POST", "url": ENDPOINT,
                             "body": {"model": client.model, "temperature": TEMPERATURE, "top_p": TOP_P,
                                      "messages": [{"role": "user", "content": prompts[item].text}],
                                      "response_format": client._response_format(schema, True)}}
                            for item in items]
                path = folder / f"job-{job.job_id}-round-{round_}.jsonl"
                write_requests(path, requests)
                batch_id = await _submit(client, path)
                batch_state = {"id": batch_id, "round": round_, "items": len(items), "ingested": False}
                report(f"batch {batch_id} submitted: {len(items)} requests (round {round_})")
            batch = await _wait(client, batch_id, job, poll, lambda status: report(
                f"batch {batch_id}: {status} (round {round_}); {progress_message(stats)}"))
            if batch is None:
                stats.run_seconds = time.perf_counter() - started
                job.cancelled({**stats.as_dict(), "batch": batch_state})
                return stats
            if batch.status != "completed":
                raise StudioError(f"the batch {batch_id} ended as {batch.status}: resume the job to try again")
            # Failed requests are in the error file, not the output file: both go through ingestion.
            lines = []
            for file_id in (batch.output_file_id, getattr(batch, "error_file_id", None)):
                if file_id:
                    lines += await _download(client, file_id)
            retry = _ingest(lines, plan, family, prompts, texts, job.job_id, round_, price, recorder, stats,
                            retry, client.model)
            batch_state["ingested"] = True
            report(progress_message(stats))
        # Items whose second reply errored on the server side stay unfinished: a resume re-asks them.
        for item, outcome in retry.items():
            if outcome.reason and item not in finished_items(db, plan.id):
                recorder.add_request_error(item, outcome.reason)
        recorder.flush()
        stats.run_seconds = time.perf_counter() - started
        left = plan.total - stats.done
        note = f"; {left} items got no usable answer: resume to ask again" if left else ""
        job.finish({**stats.as_dict(), "batch": batch_state}, message=progress_message(stats) + note)
    except (LLMError, StudioError) as error:
        recorder.flush()
        stats.run_seconds = time.perf_counter() - started
        job.fail(str(error), {**stats.as_dict(), "batch": batch_state})
    finally:
        await client.aclose()
    return stats


async def _submit(client: LLMClient, path) -> str:
    oa = client.openai
    try:
        with open(path, "rb") as handle:
            uploaded = await oa.files.create(file=handle, purpose="batch")
        batch = await oa.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
    except openai.OpenAIError as error:
        raise LLMError(client.describe(error)) from None
    return batch.id


async def _wait(client: LLMClient, batch_id: str, job, poll: float, on_status):
    """Poll until the batch ends; None if the job was cancelled (the batch is cancelled too)."""
    oa = client.openai
    while True:
        try:
            batch = await oa.batches.retrieve(batch_id)
        except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError):
            batch = None  # a hiccup while polling is not a failed batch
        except openai.OpenAIError as error:
            raise LLMError(client.describe(error)) from None
        if batch is not None:
            if batch.status in FINAL_STATES:
                return batch
            on_status(batch.status)
        if job.cancel_requested():
            try:
                await oa.batches.cancel(batch_id)
            except openai.OpenAIError:
                pass  # it may have finished meanwhile; the job is cancelled either way
            return None
        await asyncio.sleep(poll)


async def _download(client: LLMClient, file_id: str) -> list[str]:
    try:
        content = await client.openai.files.content(file_id)
    except openai.OpenAIError as error:
        raise LLMError(client.describe(error)) from None
    return [line for line in content.text.splitlines() if line.strip()]


def _ingest(lines, plan: Plan, family, prompts, texts, job_id, round_, price, recorder: Recorder, stats: Stats,
            earlier: dict[int, Outcome], model: str) -> dict[int, Outcome]:
    """Validate every output line like an online reply; return the items to ask again."""
    retry: dict[int, Outcome] = {}
    answered = set()
    for line in lines:
        try:
            record = json.loads(line)
            plan_id, item, line_round = parse_custom_id(record["custom_id"])
        except (ValueError, KeyError, IndexError, TypeError):
            continue  # not one of ours
        if plan_id != plan.id or line_round != round_ or item not in prompts or item in answered:
            continue
        answered.add(item)
        outcome = earlier.get(item) or Outcome(item, task_id=plan.task_of(item))
        response = record.get("response") or {}
        body = response.get("body") or {}
        if response.get("status_code") != 200 or record.get("error"):
            message = (body.get("error") or {}).get("message") or (record.get("error") or {}).get("message") or ""
            outcome.reason, outcome.raw = f"the batch request failed: {message or 'no reason given'}", None
            retry[item] = outcome
            continue
        usage = body.get("usage") or {}
        prompt_tokens, completion_tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        cost = estimate_cost(price, prompt_tokens, completion_tokens)
        outcome.add_tokens(prompt_tokens, completion_tokens, None if cost is None else cost * BATCH_DISCOUNT)
        stats.requests += 1
        choices = body.get("choices") or [{}]
        text = ((choices[0] or {}).get("message") or {}).get("content") or ""
        task_text = texts.get(plan.task_of(item))
        if read_reply(family, text, outcome, task_text, prompts[item], job_id, body.get("model") or model):
            outcome.stamp_row()
            recorder.add(outcome)
        elif round_ < ROUNDS:
            outcome.invalid_retries += 1
            retry[item] = outcome
        else:
            recorder.add(outcome)  # invalid twice: a recorded failure with its reason and raw text
    for item in prompts:
        if item not in answered:
            outcome = earlier.get(item) or Outcome(item, task_id=plan.task_of(item))
            outcome.reason = "the batch output has no line for this request"
            retry[item] = outcome
    recorder.flush()
    return retry
