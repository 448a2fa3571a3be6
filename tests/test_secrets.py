"""An API key planted in the settings reaches the endpoint and nowhere else: not the database, the
logs, the exports, a job's command line, or the pages the studio serves."""

import os
import time
import urllib.request
from pathlib import Path

from storage import jobs as job_rows
from storage.db import open_db
from studio.generation.brainstorm import brainstorm
from studio.curation.exchange import export
from studio.generation.generation_jobs import launch_generate
from studio.generation.llm import LLMSettings
from tests.fake_openai import FakeOpenAI
from tests.studio_server import running_studio

KEY = "sk-planted-7Q2xV9kLm3Zt8RwC4nB6"


def _files_holding(folder: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(path) for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_planted_key_is_used_for_requests_but_stored_nowhere(db_path, isolated_data_dir):
    with FakeOpenAI(latency=0.2) as fake:
        settings = LLMSettings.resolve(base_url=fake.url, model="fake-model", api_key=KEY)
        brainstorm(db_path, "short-long", 5, settings)
        job_id = launch_generate(db_path, settings, "short-long", per_task=2, tasks=3, concurrency=2)
        db = open_db(db_path)
        command_lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            job = job_rows.get_job(db, job_id)
            if job["pid"]:
                try:  # the running job's command line, as `ps` would show it to any local user
                    command_lines.append(Path(f"/proc/{job['pid']}/cmdline").read_bytes())
                except OSError:
                    pass
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        assert job_rows.get_job(db, job_id)["state"] == "done", job_rows.get_job(db, job_id)
        sent = {record.headers.get("Authorization") or record.headers.get("authorization")
                for record in fake.chat_requests()}
    assert sent == {f"Bearer {KEY}"}  # the key really was in play
    assert command_lines and not any(KEY.encode() in line for line in command_lines)
    assert db.execute("SELECT COUNT(*) FROM examples").fetchone()[0] == 6
    for fmt, name in (("jsonl", "all.jsonl"), ("hf", "hf"), ("st", "st.jsonl")):
        export(db, fmt, isolated_data_dir / "exports" / name, status="all")
    db.conn.close()
    # Database (with its WAL), job logs, exports, server records: every file the studio wrote.
    assert _files_holding(isolated_data_dir, KEY) == []


def test_a_key_in_the_environment_never_appears_in_the_served_page(isolated_data_dir):
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "STUDIO_LLM_MODEL": "fake-model"}
    with running_studio(isolated_data_dir, env=env) as studio:
        for path in ("", "config", "gradio_api/info"):
            with urllib.request.urlopen(studio.url + path, timeout=30) as response:
                assert KEY not in response.read().decode("utf-8", "replace"), path
    assert _files_holding(isolated_data_dir, KEY) == []
    assert os.environ.get("OPENAI_API_KEY") != KEY  # the test itself did not leak it into this process
