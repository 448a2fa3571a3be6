"""Requests through forked worker processes (studio.generation.pool): same results, same errors, no leftovers."""

import asyncio
import os

import pytest
from aiohttp import web

from storage.db import open_db
from studio.generation.examples import create_plan, run_generation
from studio.jobs import JobContext
from studio.generation.llm import LLMError, LLMSettings
from studio.generation.pool import LLMProcessPool, pool_size
from tests.fake_openai import FakeOpenAI, fake  # noqa: F401 (a fixture)
from tests.test_generation import SECRET, examples, seed_tasks, settings_for


def test_a_job_through_worker_processes_stores_every_example_with_its_usage(db_path, fake):
    seed_tasks(db_path, n=3)
    fake.script("rate_limit", "server_error")  # retried inside the workers
    db = open_db(db_path)
    job = JobContext.create(db_path, "generate", {"family": "short-long"})
    plan = create_plan(db, job.job_id, "short-long", per_task=8, seed=3)
    stats = run_generation(db_path, job, plan, settings_for(fake), concurrency=8, processes=2)
    rows = examples(db)
    assert stats.inserted == len(rows) == 24 and stats.done == 24 and stats.request_errors == 0
    assert stats.requests == 24 and stats.retries == 2
    assert stats.prompt_tokens == sum(row["prompt_tokens"] for row in rows) > 0
    assert stats.cost == pytest.approx(sum(row["cost"] for row in rows))
    assert fake.counts() == {"ok": 24, "rate_limit": 1, "server_error": 1}


def test_endpoint_errors_come_back_as_llm_errors_and_closing_leaves_no_process():
    class Locked(FakeOpenAI):
        async def _answer_chat(self, request):
            return web.json_response({"error": {"message": "Incorrect API key"}}, status=401)

    async def run(server):
        pool = LLMProcessPool(settings_for(server), 2)
        assert pool.price_known  # settings_for sets prices
        assert not LLMProcessPool(LLMSettings(base_url=server.url, model="no-such-price"), 0).price_known
        # three at once: the job's own client takes one, each worker another
        refused = await asyncio.gather(*(pool.chat("anything") for _ in range(3)), return_exceptions=True)
        workers = [worker.process for worker in pool._workers]
        await pool.aclose()
        return refused, workers

    with Locked() as locked:
        refused, workers = asyncio.run(run(locked))
    assert len(refused) == 3 and all(isinstance(error, LLMError) for error in refused)
    assert all(not error.transient and "rejected the API key" in str(error) for error in refused)
    assert len({str(error) for error in refused}) == 1  # the same sentence, from a worker or not
    assert not any(SECRET in str(error) for error in refused)
    assert all(not process.is_alive() for process in workers)


def test_a_worker_that_dies_fails_its_requests_without_hanging(fake):
    fake.latency = 2.0

    async def run():
        pool = LLMProcessPool(settings_for(fake), 2)
        calls = [asyncio.create_task(pool.chat(f"request {i}")) for i in range(6)]
        await asyncio.sleep(0.5)
        lost = len(pool._workers[0].ids)
        pool._workers[0].process.kill()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 20)
        await pool.aclose()
        return results, lost

    results, lost = asyncio.run(run())
    failed = [r for r in results if isinstance(r, LLMError)]
    assert lost == 2 and len(failed) == lost and all("worker process stopped" in str(error) for error in failed)
    assert sum(not isinstance(r, Exception) for r in results) == 6 - lost


def test_pool_size_follows_concurrency_and_cores(fake):
    cores = len(os.sched_getaffinity(0))
    settings = settings_for(fake)
    assert pool_size(16, settings) == 0  # few requests: the job's own process is enough
    assert pool_size(512, settings) == min(cores, 16) - 1  # the job's process counts as one
    assert pool_size(512, settings.__class__()) == 0  # the offline model: never


def test_workers_exit_when_the_job_process_is_killed():
    """A job killed with SIGKILL (alone, not its process group) must not leave its workers behind."""
    import signal
    import subprocess
    import sys
    import time

    from studio.config import REPO_ROOT

    job = subprocess.Popen([sys.executable, "-c", "import time\n"
                            "from studio.generation.llm import LLMSettings\nfrom studio.generation.pool import LLMProcessPool\n"
                            "pool = LLMProcessPool(LLMSettings(base_url='http://127.0.0.1:9/v1', model='m'), 2)\n"
                            "print(*[worker.process.pid for worker in pool._workers], flush=True)\ntime.sleep(60)"],
                           cwd=str(REPO_ROOT), stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in job.stdout.readline().split()]
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
        job.send_signal(signal.SIGKILL)
        job.wait()
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived its job"
            time.sleep(0.1)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
