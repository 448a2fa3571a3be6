"""A fake OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

It speaks real HTTP (aiohttp), so the code under test uses the real `openai` client end to end.

In a test (the server runs in a background thread with its own event loop)::

    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI(latency=0.0) as fake:
        fake.url                      # "http://127.0.0.1:PORT/v1": pass as OPENAI_BASE_URL / --base-url
        fake.script("rate_limit", "ok", "malformed")   # the next chat requests get these, in order
        fake.fault_rates = {"server_error": 0.1}        # afterwards, random faults by probability
        ...
        fake.chat_requests()          # the logged chat requests (each a RequestRecord)
        fake.counts()                 # {"ok": 12, "rate_limit": 1, ...}: what was served
        fake.max_in_flight            # the most chat requests answered at once

As a process (the end-to-end test and the benchmarks run it this way, so that its CPU is its own)::

    python -m tests.fake_openai --port 0 [--latency 0.1] [--fault server_error=0.05] [--batch-delay 0.5]

It prints one line `fake-openai listening on http://127.0.0.1:PORT/v1` when ready and serves until killed.

Routes
    GET  /v1/models                   the configured model names
    POST /v1/chat/completions         a scripted reply (see below), with usage counted as len(text) // 4
    POST /v1/files                    multipart upload (purpose "batch"); GET /v1/files/{id}, /v1/files/{id}/content
    POST /v1/batches                  runs every request line of the input file through the same reply logic
                                      after `batch_delay` seconds; GET /v1/batches/{id}; POST /v1/batches/{id}/cancel

Replies
    A generation request gets a JSON object of its family's shape. The family is detected from the
    output keys named in the request: the `response_format` JSON schema if there is one, else the
    prompt text (`hard_negative_document` → short-long, `misleading_label` → long-short, `S1`…`S3` →
    sts/bitext, `input` + `positive_document` → short-short/long-long). Every reply has fresh text (a
    running counter), so replies are never duplicates unless the "duplicate" fault asks for one.
    A request whose schema or prompt names "queries" is grounded generation's (a template asking for K
    queries at once): it gets {"queries": [...]} with as many fresh queries as its prompt's "Write K
    different queries" asks for. A prompt ending "that this passage answers. Reply with it only." (the
    default template: one query per request) gets one fresh query as plain text ("malformed": a blank
    reply); one ending "Reply with the summary only." (the summary template) a fresh summary likewise.
    A request whose schema or prompt names "grades" is the corpus judge's: it gets {"grades": [...]}
    from `grader(prompt)` (default: 1 for every "[n]" passage line; tests replace it).
    A request naming none of those keys is a brainstorm request: it gets a JSON list of
    `brainstorm_size` new task descriptions (`brainstorm_style` "json", "fenced", "numbered" or "bulleted").

Faults (by script first, then by `fault_rates`; a name not listed is "ok")
    ok            a valid reply
    rate_limit    429 with `Retry-After: retry_after` (seconds, default 0.05)
    server_error  500
    hang          no answer for `hang_seconds` (default 30): the client's timeout must fire
    drop          the connection is closed with no response
    malformed     200 whose content is not JSON
    fenced        200 whose content is the valid JSON inside a ```json fence with prose around it
    wrong_shape   200 with valid JSON missing the family's first key
    empty_value   200 with valid JSON whose first key is an empty string
    duplicate     200 repeating the previous valid reply of that family
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import pytest
from aiohttp import web

FAMILY_KEYS = {
    "short-long": ("user_query", "positive_document", "hard_negative_document"),
    "long-short": ("input_text", "label", "misleading_label"),
    "short-short": ("input", "positive_document"),
    "sts": ("S1", "S2", "S3"),
}
FAULTS = ("ok", "rate_limit", "server_error", "hang", "drop", "malformed", "fenced", "wrong_shape",
          "empty_value", "duplicate")

WORDS = ("river", "protein", "ledger", "orbit", "harvest", "violin", "glacier", "tariff", "enzyme", "lantern",
         "quorum", "magnet", "canyon", "syntax", "pollen", "turbine", "mosaic", "vaccine", "fossil", "rhythm",
         "archive", "nebula", "compass", "saffron", "circuit", "meadow", "dialect", "furnace", "harbor", "prism")
_WORD_STREAM = random.Random(0).choices(WORDS, k=8192)


@dataclass
class RequestRecord:
    method: str
    path: str
    body: dict | None
    headers: dict
    fault: str | None = None
    family: str | None = None
    at: float = field(default_factory=time.time)


def detect_family(body: dict) -> str | None:
    """The family whose output keys the request names; None for a brainstorm request."""
    names: set[str] = set()
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema") or response_format.get("schema") or {}
    if isinstance(schema.get("properties"), dict):
        names = set(schema["properties"])
    else:
        text = " ".join(str(message.get("content", "")) for message in body.get("messages", []))
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    if "hard_negative_document" in names:
        return "short-long"
    if "misleading_label" in names:
        return "long-short"
    if {"S1", "S2", "S3"} <= names:
        return "sts"
    if {"input", "positive_document"} <= names:
        return "short-short"
    return None


class FakeOpenAI:
    """See the module docstring. All settings are plain attributes and may change while it runs."""

    def __init__(self, latency: float = 0.0, models=("fake-model", "fake-model-mini"), retry_after: float = 0.05,
                 hang_seconds: float = 30.0, brainstorm_size: int = 20, brainstorm_style: str = "json",
                 document_words: int = 40, batch_delay: float = 0.2, seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0, log_requests: bool = True):
        self.latency = latency
        self.models = list(models)
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.brainstorm_size = brainstorm_size
        self.brainstorm_style = brainstorm_style
        self.document_words = document_words
        self.batch_delay = batch_delay
        self.fault_rates: dict[str, float] = {}
        self.host = host
        self.port = port
        self.log_requests = log_requests
        self.requests: list[RequestRecord] = []
        self.in_flight = 0        # chat requests being answered now
        self.max_in_flight = 0    # the most at once since start (or reset)
        self._script: deque[str] = deque()
        self._served: Counter = Counter()
        self._counter = itertools.count(1)
        self._rng = random.Random(seed)
        self._last_reply: dict[str, dict] = {}
        self._files: dict[str, dict] = {}
        self._batches: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        # A judge request's grades (one per passage "[n] ..." line of the prompt); tests replace it.
        self.grader = lambda prompt: [1] * len(re.findall(r"^\s*\[\d+\]", prompt, flags=re.M))

    # --- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *faults: str) -> None:
        """Queue faults for the next chat requests, one each, in order."""
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
            self._script.append(fault)

    def settings(self, **options):
        """LLMSettings for this server, with short backoffs and timeout so that tests stay quick."""
        from studio.generation.llm import LLMSettings

        defaults = dict(base_url=self.url, model="fake-model", api_key="sk-fake-test-key", backoff_base=0.01,
                        backoff_cap=0.05, timeout=5.0)
        return LLMSettings(**{**defaults, **options})

    def chat_requests(self) -> list[RequestRecord]:
        return [record for record in list(self.requests) if record.path.endswith("/chat/completions")]

    def counts(self) -> dict[str, int]:
        return dict(self._served)

    def reset(self) -> None:
        self.requests.clear()
        self._script.clear()
        self._served.clear()
        self.fault_rates = {}
        self.max_in_flight = 0

    # --- lifecycle -----------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}", self._file_info)
        app.router.add_get("/v1/files/{file_id}/content", self._file_content)
        app.router.add_post("/v1/batches", self._create_batch)
        app.router.add_get("/v1/batches/{batch_id}", self._get_batch)
        app.router.add_post("/v1/batches/{batch_id}/cancel", self._cancel_batch)
        return app

    async def start_async(self) -> None:
        self._loop = asyncio.get_running_loop()
        # A short shutdown timeout: a "hang" reply must not hold up stopping the server.
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> "FakeOpenAI":
        """Serve from a background thread; returns once the port is bound."""
        errors: list[BaseException] = []

        def serve():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as error:  # surfaced to the caller below
                errors.append(error)
                self._ready.set()
                return
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- replies -------------------------------------------------------------------------
    def _words(self, count: int, n: int) -> str:
        """`count` words that depend only on n: a stretch of a fixed random word list (cheap, so that
        the server's own CPU, which shares the machine with the engine in benchmarks, stays small)."""
        start = (n * 7919) % (len(_WORD_STREAM) - count) if count < len(_WORD_STREAM) else 0
        return " ".join(_WORD_STREAM[start:start + count])

    def example_object(self, family: str) -> dict:
        """A fresh valid reply object of the family's shape."""
        n = next(self._counter)
        doc = self.document_words
        if family == "short-long":
            return {"user_query": f"what is {self._words(3, n)} {n}",
                    "positive_document": f"Document {n} explains {self._words(doc, n)}.",
                    "hard_negative_document": f"Document {n} misleads about {self._words(doc, n + 7)}."}
        if family == "long-short":
            return {"input_text": f"Text {n}: {self._words(doc, n)}.", "label": f"label {n}",
                    "misleading_label": f"other label {n}"}
        if family == "sts":
            return {"S1": f"Sentence {n} about {self._words(6, n)}.", "S2": f"A sentence {n} on {self._words(6, n)}.",
                    "S3": f"Sentence {n} about {self._words(6, n + 3)}."}
        return {"input": f"term {n} {self._words(2, n)}", "positive_document": f"Meaning {n}: {self._words(doc, n)}."}

    def brainstorm_text(self) -> str:
        tasks = []
        for _ in range(self.brainstorm_size):
            n = next(self._counter)
            tasks.append(f"Given a question about {self._words(2, n)} number {n}, retrieve passages that answer it")
        if self.brainstorm_style == "numbered":
            return "Here are the tasks:\n" + "\n".join(f"{i}. {task}" for i, task in enumerate(tasks, 1))
        if self.brainstorm_style == "bulleted":
            return "\n".join(f"- {task}" for task in tasks)
        if self.brainstorm_style == "fenced":
            return "Sure!\n```json\n" + json.dumps(tasks, indent=1) + "\n```"
        return json.dumps(tasks)

    def _choose_fault(self) -> str:
        if self._script:
            return self._script.popleft()
        for fault, rate in self.fault_rates.items():
            if rate > 0 and self._rng.random() < rate:
                return fault
        return "ok"

    def reply_content(self, body: dict, fault: str) -> tuple[str, str | None]:
        """(content, family) for a request that gets a 200 answer."""
        family = detect_family(body)
        prompt = str(body["messages"][-1].get("content", ""))
        if family is None and prompt.rstrip().endswith("Reply with the summary only."):   # grounded: summarise
            number = next(self._counter)
            return ("   " if fault == "malformed" else f"summary {number} {self._words(5, number)}"), None
        if family is None and prompt.rstrip().endswith("that this passage answers. Reply with it only."):
            if fault == "malformed":   # grounded generation, one query per request
                return "   ", None
            number = next(self._counter)
            return f"query {number} {self._words(3, number)}", None
        if family is None and '"queries"' in json.dumps(body):   # grounded generation (studio.generation.grounded)
            if fault == "malformed":
                return '{"queries": ["unterminated', None
            asked = re.search(r"Write (\d+) different queries", prompt)
            count = int(asked.group(1)) if asked else 1
            numbers = [next(self._counter) for _ in range(count)]
            return json.dumps({"queries": [f"query {n} {self._words(3, n)}" for n in numbers]}), None
        if family is None and '"grades"' in json.dumps(body):   # the corpus judge (studio.corpus.judge)
            if fault == "malformed":
                return '{"grades": [1, ', None
            return json.dumps({"grades": self.grader(prompt)}), None
        if family is None:
            if fault == "malformed":
                return "I cannot help with that", None
            return self.brainstorm_text(), None
        if fault == "malformed":
            return '{"' + FAMILY_KEYS[family][0] + '": "unterminated', family
        if fault == "duplicate" and family in self._last_reply:
            obj = dict(self._last_reply[family])
        else:
            obj = self.example_object(family)
            self._last_reply[family] = obj
        if fault == "wrong_shape":
            obj = {key: value for key, value in obj.items() if key != FAMILY_KEYS[family][0]}
        elif fault == "empty_value":
            obj = {**obj, FAMILY_KEYS[family][0]: ""}
        text = json.dumps(obj, ensure_ascii=False)
        if fault == "fenced":
            text = f"Here is the example you asked for:\n```json\n{text}\n```\nHope it helps."
        return text, family

    def completion_body(self, body: dict, content: str) -> dict:
        prompt_chars = sum(len(str(message.get("content", ""))) for message in body.get("messages", []))
        prompt_tokens = max(1, prompt_chars // 4)
        completion_tokens = max(1, len(content) // 4)
        return {
            "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or self.models[0],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    # --- handlers ------------------------------------------------------------------------
    def _log(self, request: web.Request, body: dict | None, fault=None, family=None) -> RequestRecord:
        record = RequestRecord(request.method, request.path, body, dict(request.headers), fault, family)
        if self.log_requests:
            self.requests.append(record)
        return record

    async def _models(self, request: web.Request) -> web.Response:
        self._log(request, None)
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in self.models]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer_chat(request)
        finally:
            self.in_flight -= 1

    async def _answer_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        fault = self._choose_fault()
        record = self._log(request, body, fault)
        self._served[fault] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "rate_limit":
            return web.json_response({"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                                     status=429, headers={"Retry-After": f"{self.retry_after:g}"})
        if fault == "server_error":
            return web.json_response({"error": {"message": "The server had an error", "type": "server_error"}},
                                     status=500)
        if fault == "hang":
            await asyncio.sleep(self.hang_seconds)
        if fault == "drop":
            request.transport.close()
            raise asyncio.CancelledError  # aiohttp drops the connection without writing anything
        content, family = self.reply_content(body, fault)
        record.family = family
        return web.json_response(self.completion_body(body, content))

    async def _upload(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        purpose, data, filename = "batch", b"", "upload.jsonl"
        async for part in reader:
            if part.name == "purpose":
                purpose = (await part.read()).decode()
            elif part.name == "file":
                filename = part.filename or filename
                data = await part.read()
        file_id = f"file-{next(self._ids)}"
        self._files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                "filename": filename, "purpose": purpose, "status": "processed", "data": data}
        self._log(request, {"purpose": purpose, "filename": filename, "bytes": len(data)})
        return web.json_response(self._public_file(file_id))

    def _public_file(self, file_id: str) -> dict:
        return {key: value for key, value in self._files[file_id].items() if key != "data"}

    async def _file_info(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self._files:
            return web.json_response({"error": {"message": "No such file"}}, status=404)
        return web.json_response(self._public_file(file_id))

    async def _file_content(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        self._log(request, None)
        if file_id not in self._files:
            return web.json_response({"error": {"message": "No such file"}}, status=404)
        return web.Response(body=self._files[file_id]["data"], content_type="application/octet-stream")

    async def _create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._log(request, body)
        if body.get("input_file_id") not in self._files:
            return web.json_response({"error": {"message": "No such input file"}}, status=400)
        batch_id = f"batch_{next(self._ids)}"
        self._batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
            "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
            "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
        }
        asyncio.get_running_loop().create_task(self._run_batch(batch_id))
        return web.json_response(self._batches[batch_id])

    async def _run_batch(self, batch_id: str) -> None:
        batch = self._batches[batch_id]
        batch["status"] = "in_progress"
        await asyncio.sleep(self.batch_delay)
        if batch["status"] != "in_progress":
            return
        lines = self._files[batch["input_file_id"]]["data"].decode().splitlines()
        output = []
        for line in filter(str.strip, lines):
            item = json.loads(line)
            fault = self._choose_fault()
            self._served[fault] += 1
            if fault in ("rate_limit", "server_error", "hang", "drop"):
                output.append({"id": f"batch_req_{next(self._ids)}", "custom_id": item["custom_id"],
                               "response": {"status_code": 500, "request_id": "", "body": {
                                   "error": {"message": "The server had an error"}}}, "error": None})
                continue
            content, _ = self.reply_content(item["body"], fault)
            output.append({"id": f"batch_req_{next(self._ids)}", "custom_id": item["custom_id"],
                           "response": {"status_code": 200, "request_id": f"req_{next(self._ids)}",
                                        "body": self.completion_body(item["body"], content)}, "error": None})
        # Like OpenAI: answered requests go to the output file, failed ones to the error file.
        ok = [row for row in output if row["response"]["status_code"] == 200]
        failed = [row for row in output if row["response"]["status_code"] != 200]
        batch.update(status="completed", output_file_id=self._store_file(batch_id, "output", ok),
                     error_file_id=self._store_file(batch_id, "error", failed),
                     request_counts={"total": len(output), "completed": len(ok), "failed": len(failed)})

    def _store_file(self, batch_id: str, kind: str, rows: list[dict]) -> str | None:
        if not rows:
            return None
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
        file_id = f"file-{next(self._ids)}"
        self._files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                "filename": f"{batch_id}_{kind}.jsonl", "purpose": "batch_output",
                                "status": "processed", "data": data}
        return file_id

    async def _get_batch(self, request: web.Request) -> web.Response:
        batch_id = request.match_info["batch_id"]
        self._log(request, None)
        if batch_id not in self._batches:
            return web.json_response({"error": {"message": "No such batch"}}, status=404)
        return web.json_response(self._batches[batch_id])

    async def _cancel_batch(self, request: web.Request) -> web.Response:
        batch_id = request.match_info["batch_id"]
        if batch_id not in self._batches:
            return web.json_response({"error": {"message": "No such batch"}}, status=404)
        self._batches[batch_id]["status"] = "cancelled"
        return web.json_response(self._batches[batch_id])


@pytest.fixture
def fake():
    """A FakeOpenAI for one test: import it into a test module (`from tests.fake_openai import fake`)."""
    with FakeOpenAI() as server:
        yield server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each chat reply")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME=RATE",
                        help="random fault by probability, e.g. server_error=0.05")
    parser.add_argument("--batch-delay", type=float, default=0.2)
    parser.add_argument("--document-words", type=int, default=40)
    parser.add_argument("--brainstorm-style", default="json", choices=("json", "fenced", "numbered", "bulleted"))
    args = parser.parse_args(argv)
    fake = FakeOpenAI(latency=args.latency, batch_delay=args.batch_delay, document_words=args.document_words,
                      brainstorm_style=args.brainstorm_style, host=args.host, port=args.port,
                      log_requests=False)  # a long-running process would otherwise grow without bound
    for item in args.fault:
        name, _, rate = item.partition("=")
        if name not in FAULTS:
            parser.error(f"unknown fault {name!r}")
        fake.fault_rates[name] = float(rate or 1.0)

    async def serve():
        await fake.start_async()
        print(f"fake-openai listening on {fake.url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
