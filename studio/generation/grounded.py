"""Grounded generation: queries written from a corpus's own passages (`generate --corpus NAME`).

Passages are sampled across documents (round robin over the documents in a seeded order, so no
document is over-represented), or given by id (`--passage-ids`; `--like-weak` gives the neighbours
of the queries a model lost most on, studio.corpus.weak_spots). For each passage the LLM reads it
and its title and writes K queries, each of a type drawn from a weighted list (a question, a
keyword search, a claim to check, ...): by default one request per query with a plain-text reply
(small models write far better queries so than inside a JSON grammar), or all K in one JSON reply
when the generate template uses {{ k }}. Optionally the passage is summarised first and the queries
are written from passage and summary (summarise-then-ask, for queries in other languages). Every
query becomes an example whose positive is the
passage, verbatim, whose instruction is the task (typed, a task of the Tasks tab, or brainstormed
by the LLM from five of the passages) and whose provenance is the passage (example_passages). The
job works like the generation job (studio.generation.examples): a plan fixed at the start, each
item (a passage) marked finished in the transaction that stores its examples, so a job killed at
any moment is resumed with exactly the rest; an invalid reply is asked again once, then recorded
as a failure; endpoint errors leave the item to do; tokens and cost add up per job.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from dataclasses import dataclass

from storage import corpora
from storage import tasks as task_rows
from storage.db import now, open_db, transaction
from storage.examples import insert_examples
from studio.corpus import templates as corpus_templates
from studio.errors import StudioError
from studio.generation.examples import previous_stats, root_job_id
from studio.generation.llm import LOCAL_CONCURRENCY, LLMClient, LLMError, LLMSettings, TokenCount
from studio.generation.replies import ReplyError, _load_json, parse_list
from studio.prompts.templates import make_rng, render

DEFAULT_QUERY_TYPES = "a question:3, a keyword search:2, a claim to check:1, a how-to request:1"
FAMILY = "short-long"     # a short query and the passage that answers it
BRAINSTORM_PASSAGES = 5
MAX_PER_PASSAGE = 20
QUERY_MAX_TOKENS = 128   # one query: a capable LLM needs far fewer; a small one otherwise rambles on
SUMMARY_MAX_TOKENS = 256


def parse_query_types(text: str) -> tuple[tuple[str, float], ...]:
    """"a question:3, a keyword search:1" → (("a question", 3.0), ("a keyword search", 1.0)); weight 1 when left out."""
    types = []
    for part in (text or "").split(","):
        name, _, weight = part.strip().rpartition(":") if ":" in part else (part.strip(), "", "1")
        name = name.strip()
        try:
            value = float(weight)
        except ValueError:
            raise StudioError(f"the query type '{part.strip()}' needs a number after its colon, e.g. 'a question:3'") from None
        if not name or value <= 0:
            raise StudioError(f"the query type '{part.strip()}' needs a name and a weight above 0")
        types.append((name, value))
    if not types:
        raise StudioError("give at least one query type, e.g. 'a question:3, a keyword search:1'")
    return tuple(types)


@dataclass(frozen=True)
class GroundedPlan:
    id: int
    corpus_id: int
    per_passage: int
    passage_ids: tuple
    instruction: str
    task_id: int | None
    query_types: tuple
    language: str
    seed: int
    summarise: bool = False    # ask each passage's summary first (the summary template), for {{ summary }}

    @property
    def total(self) -> int:
        return len(self.passage_ids)

    def types_of(self, item: int) -> list[str]:
        rng = make_rng(self.seed, item)
        names, weights = zip(*self.query_types)
        return rng.choices(names, weights, k=self.per_passage)


def sample_passages(db, corpus_id: int, n: int, rng: random.Random) -> list[int]:
    """`n` passage ids taken round robin over the documents (each document's passages shuffled)."""
    by_document: dict[str, list[int]] = {}
    for passage_id, doc_id in db.execute("SELECT id, doc_id FROM passages WHERE corpus_id = ? ORDER BY id",
                                         [corpus_id]):
        by_document.setdefault(doc_id, []).append(passage_id)
    available = sum(len(ids) for ids in by_document.values())
    if n > available:
        raise StudioError(f"the corpus has {available} passages: ask for at most that many with --passages")
    documents = list(by_document.values())
    rng.shuffle(documents)
    for ids in documents:
        rng.shuffle(ids)
    chosen = []
    while len(chosen) < n:
        for ids in documents:
            if ids and len(chosen) < n:
                chosen.append(ids.pop())
    return chosen


def parse_passage_ids(text: str) -> list[int]:
    """"12,40, 41" → [12, 40, 41]."""
    try:
        ids = [int(part) for part in (text or "").replace(" ", "").split(",") if part]
    except ValueError:
        raise StudioError(f"--passage-ids takes passage ids separated by commas, e.g. 12,40,41 (not '{text}')"
                          ) from None
    if not ids:
        raise StudioError("--passage-ids needs at least one passage id, e.g. 12,40,41")
    return ids


def chosen_passages(db, corpus: dict, ids) -> list[int]:
    """The given passage ids, each once and in order, after checking that every one is a passage of `corpus`."""
    ids = list(dict.fromkeys(int(i) for i in ids))
    if not ids:
        raise StudioError("give at least one passage id")
    found = {row["id"]: row["corpus_id"] for row in corpora.get_passages(db, ids).values()}
    stray = [i for i in ids if found.get(i) != corpus["id"]]
    if stray:
        shown = ", ".join(str(i) for i in stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise StudioError(f"passage{'s' if len(stray) > 1 else ''} {shown} {'are' if len(stray) > 1 else 'is'} not "
                          f"in corpus '{corpus['name']}': see the corpus's passages in the Corpus tab")
    return ids


def brainstorm_task(db, corpus_id: int, settings: LLMSettings, rng: random.Random, among=None) -> str:
    """A retrieval task proposed by the LLM after reading a few passages of the corpus (of `among`, when given)."""
    if among:
        ids = rng.sample(list(among), min(BRAINSTORM_PASSAGES, len(among)))
    else:
        ids = sample_passages(db, corpus_id, min(BRAINSTORM_PASSAGES, _count(db, corpus_id)), rng)
    rows = corpora.get_passages(db, ids)
    passages = "\n".join(f"[{n}] {' '.join(row['text'].split())[:1500]}" for n, row in enumerate(rows.values(), 1))
    prompt = render(corpus_templates.active(db, "brainstorm")["body"], {"passages": passages})

    async def ask():
        async with LLMClient(settings) as client:
            return (await client.chat(prompt, schema={"type": "array", "items": {"type": "string"}},
                                      json_reply=False)).text

    try:
        tasks = parse_list(asyncio.run(ask()))
    except (ReplyError, LLMError) as error:
        raise StudioError(f"could not brainstorm a task from the corpus ({error}); give one with --instruction") from None
    return tasks[0]


def _count(db, corpus_id: int) -> int:
    return db.execute("SELECT COUNT(*) FROM passages WHERE corpus_id = ?", [corpus_id]).fetchone()[0]


def check_per_passage(per_passage: int) -> None:
    if not 1 <= per_passage <= MAX_PER_PASSAGE:
        raise StudioError(f"queries per passage (--per-passage) must be between 1 and {MAX_PER_PASSAGE}")


def create_plan(db, job_id: int, corpus_name: str, passages: int | None, per_passage: int, settings: LLMSettings,
                instruction: str | None = None, task_id: int | None = None,
                query_types: str = DEFAULT_QUERY_TYPES, language: str = "English", seed: int | None = None,
                passage_ids=None, summarise: bool = False) -> GroundedPlan:
    """The job's plan: `passages` sampled across documents, or exactly the passages `passage_ids`."""
    from studio.corpus.index import corpus_named

    if (passage_ids is None) == (passages is None):
        raise StudioError("give either a number of passages (--passages N) or the passages (--passage-ids), not both")
    if passages is not None and passages < 1:
        raise StudioError("--passages must be at least 1")
    check_per_passage(per_passage)
    if instruction and task_id:
        raise StudioError("give --instruction or --task-id, not both")
    corpus = corpus_named(db, corpus_name)
    types = parse_query_types(query_types)
    if seed is None:
        seed = int.from_bytes(os.urandom(6), "little")
    rng = random.Random(seed)
    chosen = chosen_passages(db, corpus, passage_ids) if passage_ids is not None else None
    if task_id:
        task = task_rows.get_task(db, task_id)
        if task is None:
            raise StudioError(f"there is no task {task_id}: see the Tasks tab for ids")
        instruction = task["text"]
    instruction = (instruction or "").strip() or brainstorm_task(db, corpus["id"], settings, rng, among=chosen)
    passage_ids = tuple(chosen if chosen is not None else sample_passages(db, corpus["id"], passages, rng))
    plan = GroundedPlan(job_id, corpus["id"], per_passage, passage_ids, instruction, task_id, types, language, seed,
                        bool(summarise))
    with transaction(db):
        db.execute("INSERT INTO grounded_plans (id, corpus_id, per_passage, passage_ids, instruction, task_id,"
                   " query_types, language, seed, total, summarise, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [plan.id, plan.corpus_id, per_passage, json.dumps(list(passage_ids)), instruction, task_id,
                    json.dumps([list(t) for t in types]), language, seed, plan.total, int(plan.summarise), now()])
    return plan


def load_plan(db, plan_id: int) -> GroundedPlan | None:
    row = db.execute("SELECT id, corpus_id, per_passage, passage_ids, instruction, task_id, query_types, language,"
                     " seed, summarise FROM grounded_plans WHERE id = ?", [plan_id]).fetchone()
    if row is None:
        return None
    return GroundedPlan(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5],
                        tuple((name, weight) for name, weight in json.loads(row[6])), row[7], row[8], bool(row[9]))


def plan_of_job(db, job_id: int) -> GroundedPlan | None:
    """The plan of a job's resume chain, if it is a grounded generation."""
    return load_plan(db, root_job_id(db, job_id))


def finished_items(db, plan_id: int) -> set[int]:
    return {row[0] for row in db.execute("SELECT item FROM grounded_items WHERE plan_id = ?", [plan_id])}


# --- one item ------------------------------------------------------------------------------

@dataclass
class Outcome(TokenCount):
    item: int = 0
    rows: list | None = None
    failures: int = 0          # replies still unusable after asking again (the last one's reason and text below)
    reason: str | None = None
    raw: str | None = None


def read_queries(text: str, k: int) -> list[str]:
    """The K queries of a JSON reply; ReplyError when there are fewer usable ones."""
    value = _load_json(text)
    if isinstance(value, dict):
        value = value.get("queries")
    if not isinstance(value, list):
        raise ReplyError('expected {"queries": [...]}')
    queries = [" ".join(q.split()) for q in value if isinstance(q, str) and q.strip()]
    if len(queries) < k:
        raise ReplyError(f"{len(queries)} usable queries, {k} asked for")
    return queries[:k]


_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
# Labels small models put before the query; a query's own colon ("Vitamin D: effects on bone") is kept.
_LABEL = re.compile(r"^(?:(?:search )?query|question|claim(?: to check)?|keywords?|keyword search|answer"
                    r"|here(?:'s| is)[^:]{0,40}|[^:]{0,60}\bwould (?:type|search|ask)[^:]{0,20})\s*:\s*", re.I)
_QUOTED_AFTER_COLON = re.compile(r":\s*[\"“](.+?)[\"”]?\s*$")


def read_query(text: str, query_type: str) -> str:
    """The query of a plain-text reply: its first line, without a list marker, a leading label
    ("Query:", "A searcher would type:") or quotes; a JSON reply's "query" (or first string) is read
    too. ReplyError when nothing is left, or when the reply only repeats the query type."""
    text = (text or "").strip()
    if text[:1] in "{[":
        try:
            value = _load_json(text)
        except ReplyError:
            value = None
        if isinstance(value, dict):
            value = value.get("query", next((v for v in value.values() if isinstance(v, str)), None))
        elif isinstance(value, list):
            value = next((v for v in value if isinstance(v, str)), None)
        if isinstance(value, str):
            text = value
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ReplyError("empty reply")
    line = lines[1] if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    quoted = _QUOTED_AFTER_COLON.search(line)
    if quoted:
        line = quoted.group(1)
    line = _LABEL.sub("", _MARKER.sub("", line), count=1)
    query = " ".join(line.strip().strip("\"“”'`").split())
    if not query:
        raise ReplyError("empty reply")
    if _bare(query) == _bare(query_type):
        raise ReplyError("the reply repeats the query type instead of writing a query")
    return query


def _bare(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def read_summary(text: str) -> str:
    """A summary reply, its lines joined; ReplyError when it is empty."""
    summary = " ".join((text or "").split())
    if not summary:
        raise ReplyError("empty summary")
    return summary


async def _ask_text(client, prompt: str, read, max_tokens: int, outcome: Outcome):
    """A plain-text reply read by `read` (asked again once when it is unusable): (value, completion) or
    (None, the last completion) with the reason in outcome.reason."""
    completion = None
    for _ in range(2):
        completion = await client.chat(prompt, json_reply=False, max_tokens=max_tokens)
        outcome.add_tokens(completion.prompt_tokens, completion.completion_tokens, completion.cost)
        try:
            return read(completion.text), completion
        except ReplyError as error:
            outcome.reason, outcome.raw = str(error), completion.text
    return None, completion


def _rows(plan: GroundedPlan, passage: dict, template: dict, job_id: int, outcome: Outcome, found,
          summary: str = "") -> list[dict]:
    """The examples of one passage; `found`: (query, its type, its completion)."""
    share = 1 / len(found)   # the item's tokens and cost, spread over its examples
    cost = outcome.known_cost
    extra = {"summary": summary} if summary else {}
    return [{"family": FAMILY, "language": plan.language, "instruction": plan.instruction,
             "query": query, "positive": passage["text"], "negative": None, "task_id": plan.task_id,
             "placeholders": {"query_type": kind, "passage_id": passage["id"], "language": plan.language, **extra},
             "model": completion.model, "raw_response": completion.text, "job_id": job_id,
             "source": "grounded", "template_version_id": template["id"],
             "prompt_tokens": round(outcome.prompt_tokens * share),
             "completion_tokens": round(outcome.completion_tokens * share),
             "cost": cost * share if cost is not None else None}
            for query, kind, completion in found]


async def generate_item(client, plan: GroundedPlan, item: int, passage: dict, template: dict, job_id: int,
                        summary_template: dict | None = None) -> Outcome:
    """One passage's K queries (`template`: the active generate template's row): one request per
    query when the template uses {{ query_type }}, else one request for all K; when the plan
    summarises, the passage's summary is asked first (`summary_template`)."""
    types = plan.types_of(item)
    values = {"task": plan.instruction, "title": passage["title"], "passage": passage["text"], "summary": "",
              "k": plan.per_passage, "language": plan.language,
              "query_types": "\n".join(f"{n}. {name}" for n, name in enumerate(types, start=1))}
    outcome = Outcome(item=item)
    if plan.summarise:
        prompt = render(summary_template["body"], {name: values[name] for name in ("title", "passage", "language")})
        values["summary"], _ = await _ask_text(client, prompt, read_summary, SUMMARY_MAX_TOKENS, outcome)
        if values["summary"] is None:
            outcome.failures = 1
            return outcome
    if corpus_templates.one_query_per_request(template["body"]):
        found = []
        for kind in types:
            query, completion = await _ask_text(client, render(template["body"], {**values, "query_type": kind}),
                                                lambda text, kind=kind: read_query(text, kind), QUERY_MAX_TOKENS,
                                                outcome)
            if query is not None:
                found.append((query, kind, completion))
            else:
                outcome.failures += 1
        if found:
            outcome.rows = _rows(plan, passage, template, job_id, outcome, found, values["summary"])
        return outcome
    prompt = render(template["body"], values)
    schema = {"type": "object", "properties": {"queries": {
        "type": "array", "items": {"type": "string"}, "minItems": plan.per_passage, "maxItems": plan.per_passage}},
        "required": ["queries"], "additionalProperties": False}
    for _ in range(2):
        completion = await client.chat(prompt, schema=schema)
        outcome.add_tokens(completion.prompt_tokens, completion.completion_tokens, completion.cost)
        try:
            queries = read_queries(completion.text, plan.per_passage)
        except ReplyError as error:
            outcome.reason, outcome.raw = str(error), completion.text
            continue
        outcome.rows = _rows(plan, passage, template, job_id, outcome, [(q, kind, completion)
                                                                         for q, kind in zip(queries, types)],
                             values["summary"])
        outcome.reason = outcome.raw = None
        return outcome
    outcome.failures = 1
    return outcome


# --- the job -------------------------------------------------------------------------------

STAT_NAMES = ("done", "inserted", "duplicates", "failed", "request_errors", "prompt_tokens", "completion_tokens", "cost")


def record(db, plan: GroundedPlan, job_id: int, outcome: Outcome, stats: dict) -> None:
    """Store one passage's examples and its unusable replies (the last one's reason and text stand for
    them) and mark it finished, in one transaction. stats["failed"] counts unusable replies: one per
    query asked alone, one per passage asked for all of its queries at once."""
    stamp = now()
    inserted = []
    with transaction(db):
        if outcome.rows:
            ids = insert_examples(db, outcome.rows).row_ids
            inserted = [example_id for example_id in ids if example_id is not None]
            db.conn.executemany("INSERT OR REPLACE INTO example_passages (example_id, corpus_id, passage_id)"
                                " VALUES (?, ?, ?)", [[i, plan.corpus_id, plan.passage_ids[outcome.item]]
                                                     for i in inserted])
            stats["inserted"] += len(inserted)
            stats["duplicates"] += len(ids) - len(inserted)
        failures = outcome.failures if outcome.rows else max(1, outcome.failures)
        if failures:
            db.execute("INSERT INTO generation_failures (job_id, task_id, family, reason, raw, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)", [job_id, plan.task_id, FAMILY, outcome.reason, outcome.raw, stamp])
            stats["failed"] += failures
        kind = "failed" if not outcome.rows else "inserted" if inserted else "duplicate"
        db.execute("INSERT INTO grounded_items (plan_id, item, job_id, outcome, examples, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?)", [plan.id, outcome.item, job_id, kind, len(inserted), stamp])
    stats["done"] += 1
    stats["prompt_tokens"] += outcome.prompt_tokens
    stats["completion_tokens"] += outcome.completion_tokens
    if outcome.cost_known and stats["cost"] is not None:
        stats["cost"] += outcome.cost
    else:
        stats["cost"] = None


def summary_line(plan: GroundedPlan, stats: dict) -> str:
    cost = f"${stats['cost']:.4f}" if stats["cost"] is not None else "cost unknown (no price for this model)"
    return (f"generated from corpus: {stats['inserted']} new examples from {stats['done']} of {plan.total} passages, "
            f"{stats['duplicates']} duplicates skipped, {stats['failed']} unusable replies, {stats['request_errors']} request "
            f"errors; {stats['prompt_tokens'] + stats['completion_tokens']} tokens, {cost}")


def run_grounded(db_path, job, plan: GroundedPlan, settings: LLMSettings, concurrency: int = 8) -> dict:
    db = open_db(db_path)
    done = finished_items(db, plan.id)
    remaining = [item for item in range(plan.total) if item not in done]
    previous = previous_stats(db, job.job_id) or {}
    stats = {name: previous.get(name, 0) for name in STAT_NAMES}
    stats["done"] = len(done)
    if "cost" in previous and previous["cost"] is None:
        stats["cost"] = None
    passages = corpora.get_passages(db, plan.passage_ids)
    templates = {"template": corpus_templates.active(db, "generate"),
                 "summary_template": corpus_templates.active(db, "summary") if plan.summarise else None}
    return asyncio.run(_work(db, job, plan, settings, concurrency, remaining, passages, templates, stats))


async def _work(db, job, plan, settings, concurrency, remaining, passages, templates, stats) -> dict:
    started = time.perf_counter()
    fatal = None
    async with LLMClient(settings) as client:
        if client.is_local:
            concurrency = min(concurrency, LOCAL_CONCURRENCY)
        if not client.price_known and stats["cost"] == 0:
            stats["cost"] = None
        stats["model"] = client.model
        job.progress(stats["done"], plan.total, f"starting: {len(remaining)} of {plan.total} passages to do", stats)
        items = iter(remaining)
        stop = False

        async def worker():
            nonlocal fatal, stop
            for item in items:
                if stop or job.cancel_requested():
                    stop = True
                    return
                passage = passages.get(plan.passage_ids[item])
                if passage is None:   # removed with its corpus while the plan waited
                    record(db, plan, job.job_id, Outcome(item=item, reason="the passage no longer exists"), stats)
                    continue
                try:
                    outcome = await generate_item(client, plan, item, passage, job_id=job.job_id, **templates)
                except LLMError as error:
                    stats["request_errors"] += 1
                    if not error.transient:
                        fatal, stop = str(error), True
                    continue
                record(db, plan, job.job_id, outcome, stats)
                job.progress(stats["done"], plan.total, f"{stats['done']} of {plan.total} passages, "
                                                         f"{stats['inserted']} examples", stats)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(remaining))))))
    stats["run_seconds"] = round(time.perf_counter() - started, 2)
    if fatal:
        job.fail(f"{fatal}. {stats['done']} of {plan.total} passages are done; resume the job to do the rest.", stats)
    elif stop and stats["done"] < plan.total:
        job.cancelled(stats)
    else:
        left = plan.total - stats["done"]
        note = f"; {left} passages hit endpoint errors: resume to retry them" if left else ""
        job.finish(stats, message=summary_line(plan, stats) + note)
    return stats


def launch_grounded(db_path, settings: LLMSettings, corpus: str, passages: int | None, per_passage: int,
                    instruction: str | None = None, task_id: int | None = None, concurrency: int = 8,
                    query_types: str | None = None, passage_ids=None, language: str = "English",
                    summarise: bool = False) -> int:
    """Start a grounded generation job in the background (for `passages` sampled ones, or exactly
    `passage_ids`); the key travels in the child's environment only."""
    from studio import jobs

    argv = ["generate", "--corpus", corpus, "--per-passage", str(per_passage), "--concurrency", str(concurrency)]
    if passage_ids is not None:
        argv += ["--passage-ids", ",".join(str(int(i)) for i in passage_ids)]
        passages = len(passage_ids)
    else:
        argv += ["--passages", str(passages)]
    if instruction:
        argv += ["--instruction", instruction]
    if task_id:
        argv += ["--task-id", str(task_id)]
    if query_types:
        argv += ["--query-types", query_types]
    if language and language != "English":
        argv += ["--language", language]
    if summarise:
        argv.append("--summarise")
    args = {**job_args(corpus, passages, per_passage, concurrency, settings), "language": language,
            "summarise": bool(summarise)}
    return jobs.launch(db_path, "generate", argv, args=args, env=settings.child_env())


def job_args(corpus: str, passages: int | None, per_passage: int, concurrency: int, settings: LLMSettings) -> dict:
    return {"corpus": corpus, "passages": passages, "per_passage": per_passage, "concurrency": concurrency,
            "base_url": settings.base_url, "model": settings.model if not settings.offline else "smollm2"}
