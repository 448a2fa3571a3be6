import asyncio
import json
import subprocess
import sys
import time

import pytest

from studio.generation import local_llm
from studio.generation.examples import reply_schema
from studio.prompts.families import load_family
from studio.generation.llm import LLMClient, LLMSettings
from studio.jobs import process_start_time
from studio.generation.replies import parse_object
from tests.studio_server import REPO_ROOT, running_studio



@pytest.mark.skipif(not local_llm.available(), reason="llama-cpp-python is not installed")
def test_the_embedded_model_answers_one_real_request_with_parseable_json(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "STUDIO_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = LLMSettings.resolve()
    assert settings.offline
    family = load_family("short-short")
    prompt = ('Write one example as a JSON object with the keys "input" (a single English word) and '
              '"positive_document" (its one-sentence definition).')

    async def ask():
        async with LLMClient(settings) as client:
            assert client.is_local and client.model == "smollm2"
            # Short values keep this test quick on a busy CPU; the grammar still forces the shape.
            schema = reply_schema(family)
            schema["properties"]["input"]["maxLength"] = 24
            schema["properties"]["positive_document"]["maxLength"] = 100
            completion = await client.chat(prompt, schema=schema)
            again = local_llm.ensure_server()  # a second caller reuses the running server
            return completion, again, client

    try:
        completion, again, client = asyncio.run(ask())
        obj = parse_object(completion.text, family.output_keys)
        assert obj["input"] and obj["positive_document"]
        assert completion.completion_tokens > 0 and completion.cost == 0.0
        assert again == local_llm.running_url()
    finally:
        assert local_llm.stop_server()


def _fake_server(folder):
    """A stand-in for llama.cpp's server (the holding does not depend on what the server is)."""
    server = subprocess.Popen([sys.executable, "-m", "tests.fake_openai", "--port", "0"], cwd=str(REPO_ROOT),
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
    (folder / "llm-server.json").write_text(json.dumps(
        {"pid": server.pid, "pid_start": process_start_time(server.pid), "base_url": url}))
    return server, url


def _use_server_and_exit(url):
    """A job: it uses the running server (no second one), then exits."""
    job = subprocess.run([sys.executable, "-c", "from studio.generation import local_llm; print(local_llm.ensure_server())"],
                         cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=60, check=True)
    assert job.stdout.strip() == url


def test_the_server_stops_when_the_studio_exits(isolated_data_dir):
    server, url = _fake_server(isolated_data_dir)
    try:
        with running_studio(isolated_data_dir):
            _use_server_and_exit(url)
            time.sleep(0.3)
            assert server.poll() is None  # the studio still holds it
        server.wait(timeout=10)  # the studio exited (SIGTERM), the last holder: the server is stopped
        assert not (isolated_data_dir / "llm-server.json").exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_server_stays_while_another_live_process_holds_it(isolated_data_dir):
    server, url = _fake_server(isolated_data_dir)
    try:
        # a holder killed with SIGKILL never let go: it must not keep the server forever
        holders = isolated_data_dir / "llm-server-holders.json"
        holders.write_text(json.dumps([{"pid": 999999999, "pid_start": 1}]))
        local_llm.hold()  # this process stands for the studio
        _use_server_and_exit(url)
        time.sleep(0.3)
        assert server.poll() is None
        assert local_llm.release()  # this process was the last live holder
        server.wait(timeout=10)
        assert json.loads(holders.read_text()) == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
