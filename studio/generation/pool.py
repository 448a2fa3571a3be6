"""LLM requests spread over worker processes, for generation at high concurrency.

One process cannot keep 64 requests to a 100 ms endpoint in flight: the openai SDK spends about
1 ms of CPU per request (building the request, httpx's models, the aiohttp transport), so the
event loop saturates near 600 requests/s before the engine does any work of its own. The pool
forks worker processes, each running its own `LLMClient` (the same one LLM path, with the same
retries) over a share of the requests; the job's process sends its own share and keeps everything
else (prompts, parsing, the database). To the job the pool looks like an LLMClient: `chat`,
`usage`, `model`.

The workers are forked, not spawned: they inherit the imported SDK (importing it again costs
~1.4 s of CPU per process) and the settings (so the key never appears in a command line or an
environment). They must therefore be forked before the job's event loop starts. They talk to
the job over a socket pair, one frame per request and per reply, and exit when the job closes
its end (also when the job is killed: the kernel closes it).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import multiprocessing
import os
import signal
import socket
import struct
import sys
from dataclasses import fields

from studio.generation.llm import Completion, LLMClient, LLMError, LLMSettings, Usage, check_model, tls_context

REQUESTS_PER_PROCESS = 32   # below this many in flight, one process is enough: no pool
STOP_SECONDS = 2.0          # how long closing waits for a worker before terminating it
_COMPLETION_FIELDS = tuple(field.name for field in fields(Completion))  # a reply carries them in this order


def pool_size(concurrency: int, settings: LLMSettings) -> int:
    """How many worker processes a job with this concurrency should fork besides its own (0: none).
    One process per REQUESTS_PER_PROCESS requests in flight, up to the cores, the job's counting as one.
    Never for the offline model: it answers one request at a time anyway."""
    if settings.offline or not sys.platform.startswith("linux"):
        return 0  # forking a process that has loaded the SDK is only safe where fork is the norm
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(cores, concurrency // REQUESTS_PER_PROCESS) - 1)


class LLMProcessPool:
    """Requests spread over the job's own client and `size` forked workers, whichever has the fewest
    in flight. Create it before any event loop runs in this process (it forks); use it from one loop."""

    is_local = False

    def __init__(self, settings: LLMSettings, size: int):
        check_model(settings)
        self.settings = settings
        self.model = settings.model
        self.usage = Usage()
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future] = {}
        self._workers: list[_Worker] = []
        self._own: LLMClient | None = None  # this process's share: no hop for a third or half of the requests
        self._own_in_flight = 0
        context = multiprocessing.get_context("fork")
        tls_context()  # loaded once here, inherited by every worker
        # The workers share this process's memory until they write to it; the collector must not
        # touch every inherited object there (each touch copies a page).
        gc.freeze()
        ours = []  # our ends of the socket pairs: every worker must close those of the others
        for _ in range(size):
            mine, theirs = socket.socketpair()
            ours.append(mine)
            process = context.Process(target=_worker_main, args=(theirs, settings, ours), daemon=True,
                                      name="llm-request-worker")
            process.start()
            theirs.close()
            self._workers.append(_Worker(process, mine))
        gc.unfreeze()
        self._connected: asyncio.Future | None = None

    @property
    def price_known(self) -> bool:
        return self.settings.price(self.model) is not None

    async def _connect(self) -> None:
        self._own = LLMClient(self.settings)
        for worker in self._workers:
            worker.reader, worker.writer = await asyncio.open_connection(sock=worker.sock)
            worker.listener = asyncio.create_task(self._listen(worker))

    async def _listen(self, worker: "_Worker") -> None:
        """Replies from one worker, matched to the waiting requests by id."""
        while (reply := await _receive(worker.reader)) is not None:
            request_id, completion, error, transient = reply
            worker.ids.discard(request_id)
            future = self._pending.pop(request_id, None)
            if future is None or future.done():
                continue  # its caller was cancelled meanwhile
            if completion is not None:
                future.set_result(Completion(*completion))
            else:
                future.set_exception(LLMError(error, transient=transient))
        for request_id in list(worker.ids):  # the worker died: its requests cannot finish
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_exception(LLMError("a request worker process stopped: resume the job to retry",
                                              transient=False))

    async def chat(self, prompt: str, schema: dict | None = None, json_reply: bool = True,
                   max_tokens: int | None = None) -> Completion:
        if self._connected is None:
            self._connected = asyncio.ensure_future(self._connect())
        await self._connected
        worker = min(self._workers, key=lambda w: len(w.ids))  # the least busy one
        if self._own_in_flight <= len(worker.ids):
            self._own_in_flight += 1
            try:
                completion = await self._own.chat(prompt, schema=schema, json_reply=json_reply, max_tokens=max_tokens)
            finally:
                self._own_in_flight -= 1
            self.usage.add(completion)
            return completion
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        worker.ids.add(request_id)
        _send(worker.writer, (request_id, prompt, schema, json_reply, max_tokens))
        await worker.writer.drain()
        completion = await future
        self.usage.add(completion)
        return completion

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.aclose()
        for worker in self._workers:
            if worker.writer is not None:
                worker.writer.close()  # the worker sees the end of its input and exits
            else:
                worker.sock.close()
        loop = asyncio.get_running_loop()
        for worker in self._workers:
            await loop.run_in_executor(None, worker.process.join, STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.terminate()
                await loop.run_in_executor(None, worker.process.join)
            if worker.listener is not None:
                worker.listener.cancel()

    async def __aenter__(self) -> "LLMProcessPool":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class _Worker:
    def __init__(self, process, sock: socket.socket):
        self.process, self.sock = process, sock
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.listener: asyncio.Task | None = None
        self.ids: set[int] = set()  # requests sent to it and not answered yet


# --- inside a worker process -----------------------------------------------------------------

def _worker_main(sock: socket.socket, settings: LLMSettings, parent_ends: list[socket.socket]) -> None:
    for end in parent_ends:  # else the job closing its end would not reach the other workers
        end.close()
    # Ctrl-C in a terminal reaches the whole process group: the job handles it and closes the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(sock, settings))


async def _serve(sock: socket.socket, settings: LLMSettings) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    client = LLMClient(settings)
    tasks: set[asyncio.Task] = set()

    async def answer(request_id, prompt, schema, json_reply, max_tokens) -> None:
        try:
            completion = await client.chat(prompt, schema=schema, json_reply=json_reply, max_tokens=max_tokens)
            reply = (request_id, tuple(getattr(completion, name) for name in _COMPLETION_FIELDS), None, False)
        except LLMError as error:
            reply = (request_id, None, str(error), error.transient)
        except Exception as error:  # a fault of ours, not of the endpoint: say what it was
            reply = (request_id, None, f"a request worker failed: {type(error).__name__}: {error}", False)
        _send(writer, reply)

    try:
        while (request := await _receive(reader)) is not None:
            task = asyncio.create_task(answer(*request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:  # the job has gone: nobody waits for these answers
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
        writer.close()


# --- frames ------------------------------------------------------------------------------------
# A frame is a 4-byte length and a JSON payload of plain values (str, int, float, bool, None,
# lists, dicts). JSON, not marshal or pickle: the replies carry model output, and nothing that
# reads model output may be able to build code objects (tests/test_security.py); it costs
# ~20 µs a frame against ~1 ms of SDK work per request.

def _send(writer: asyncio.StreamWriter, message: tuple) -> None:
    payload = json.dumps(message, ensure_ascii=False).encode("utf-8")
    writer.write(struct.pack(">I", len(payload)) + payload)


async def _receive(reader: asyncio.StreamReader) -> tuple | None:
    """The next message, or None at the end of the stream."""
    try:
        size = struct.unpack(">I", await reader.readexactly(4))[0]
        return json.loads(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        return None
