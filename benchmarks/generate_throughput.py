"""Generation throughput against a fake endpoint with fixed latency, and the offline model's speed.

    python benchmarks/generate_throughput.py [--examples 2000] [--concurrency 64] [--latency 0.1]
    python benchmarks/generate_throughput.py --offline [--requests 20]

The default mode runs the fake OpenAI-compatible server (tests/fake_openai.py) in a separate
process, so that only the engine's CPU is counted, and generates short-long examples through the
real engine (plan, prompt rendering, openai client, retries, parsing, SQLite writes). With a
latency L and concurrency C the ideal is C / L examples per second. The engine runs twice per
round: as it does by default (at this concurrency it shares its requests with forked worker
processes, studio.generation.pool, whose CPU is counted too) and with every request in its own process. As a
reference it also runs a bare aiohttp client (no engine) against the same server, which shows
what the machine allows. Last line, medians of the default engine:
`generate: X of ideal, Y ms CPU/example`.

The --offline mode sends requests to the embedded SmolLM2 model and reports tokens per second
and the share of replies that parse as the family's JSON.
"""

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def start_fake(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "tests.fake_openai", "--port", "0", "--latency", str(latency),
                                "--document-words", "60"], cwd=str(REPO_ROOT), stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"the fake server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[-1]


async def bare_client(url: str, n: int, concurrency: int) -> float:
    """Reference: the same requests with a minimal aiohttp client and no engine; returns seconds."""
    import aiohttp

    body = {"model": "fake-model", "messages": [{"role": "user", "content": "Return JSON with user_query, "
            "positive_document, hard_negative_document."}], "temperature": 1.0, "top_p": 1.0}
    left = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            for _ in left:
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    json.loads(await response.text())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def engine_cpu() -> float:
    """CPU seconds of this process and of its finished children: the engine's request workers
    (studio.generation.pool) are children that it waits for at the end of the job. The fake server is
    a child too, but is only waited for after the measurement."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def engine_run(url: str, n: int, concurrency: int, per_task: int, processes: int | None = None) -> tuple[float, float, int]:
    """Generate n examples through the engine; returns (wall seconds, CPU seconds, examples stored)."""
    from storage.db import open_db
    from storage.tasks import add_tasks
    from studio.generation.examples import create_plan, run_generation
    from studio.jobs import JobContext
    from studio.generation.llm import LLMSettings

    db_path = Path(os.environ["STUDIO_DATA_DIR"]) / "studio.db"
    db = open_db(db_path)
    tasks = max(1, n // per_task)
    add_tasks(db, "short-long", [f"Given a question about subject {i}, retrieve passages that answer it"
                                 for i in range(tasks)])
    job = JobContext.create(db_path, "generate", {"benchmark": True})
    plan = create_plan(db, job.job_id, "short-long", per_task, seed=1)
    settings = LLMSettings(base_url=url, model="fake-model", api_key="bench", timeout=30)
    wall, cpu = time.perf_counter(), engine_cpu()
    stats = run_generation(db_path, job, plan, settings, concurrency=concurrency, processes=processes)
    wall, cpu = time.perf_counter() - wall, engine_cpu() - cpu
    stored = db.execute("SELECT COUNT(*) FROM examples").fetchone()[0]
    if stats.done != plan.total:
        raise SystemExit(f"only {stats.done} of {plan.total} items finished")
    return wall, cpu, stored


def online(args) -> None:
    from studio.generation.llm import LLMSettings
    from studio.generation.pool import pool_size

    n, ideal = args.examples, args.concurrency / args.latency
    workers = pool_size(args.concurrency, LLMSettings(base_url="http://x/v1", model="m"))
    default = f"default (its own process and {workers} request worker{'s' if workers > 1 else ''})" if workers \
        else "default"
    setups = {"in one process": 0, default: None}
    bare, engines = [], {label: [] for label in setups}
    process, url = start_fake(args.latency)
    try:
        for round_ in range(args.rounds):
            bare.append(n / asyncio.run(bare_client(url, n, args.concurrency)))
            for label, processes in setups.items():
                with tempfile.TemporaryDirectory() as folder:
                    os.environ["STUDIO_DATA_DIR"] = folder
                    wall, cpu, stored = engine_run(url, n, args.concurrency, args.per_task, processes)
                engines[label].append((n / wall, 1000 * cpu / n))
                print(f"round {round_ + 1}, engine {label}: {n} examples ({stored} stored) in {wall:.2f} s = "
                      f"{n / wall:.0f} examples/s; CPU {cpu:.2f} s = {1000 * cpu / n:.2f} ms/example", flush=True)
            print(f"round {round_ + 1}, reference, bare aiohttp client: {bare[-1]:.0f} requests/s", flush=True)
    finally:
        process.terminate()
        process.wait()
    print(f"ideal ({args.concurrency} in flight / {args.latency:g} s): {ideal:.0f} examples/s; "
          f"medians of {args.rounds} rounds:")
    print(f"reference, bare aiohttp client: {median(bare):.0f} requests/s ({median(bare) / ideal:.2f} of ideal)")
    for label, results in engines.items():
        rate, cpu = median(r for r, _ in results), median(c for _, c in results)
        print(f"engine, {label}: {rate:.0f} examples/s ({rate / ideal:.2f} of ideal), {cpu:.2f} ms CPU/example")
    rate, cpu = median(r for r, _ in engines[label]), median(c for _, c in engines[label])
    print(f"generate: {rate / ideal:.2f} of ideal, {cpu:.2f} ms CPU/example")


def offline(args) -> None:
    from studio.generation import local_llm
    from studio.prompts.families import load_family
    from studio.generation.examples import reply_schema
    from studio.generation.llm import LLMClient, LLMSettings
    from studio.generation.replies import ReplyError, parse_object
    from studio.prompts.templates import make_rng
    from studio.prompts.versions import render_prompt
    from storage.db import open_db

    with tempfile.TemporaryDirectory() as folder:
        os.environ["STUDIO_DATA_DIR"] = folder
        db = open_db(Path(folder) / "studio.db")
        family = load_family(args.family)
        rng = make_rng(1)
        prompts = [render_prompt(db, family.name, "generate", rng, task=family.example_task).text
                   for _ in range(args.requests)]

        async def run():
            parsed, tokens, seconds, reasons = 0, 0, 0.0, []
            async with LLMClient(LLMSettings(max_attempts=1)) as client:
                for prompt in prompts:
                    completion = await client.chat(prompt, schema=reply_schema(family))
                    tokens += completion.completion_tokens
                    seconds += completion.seconds
                    try:
                        parse_object(completion.text, family.output_keys)
                        parsed += 1
                    except ReplyError as error:
                        reasons.append(f"{error} (finish_reason {completion.finish_reason}): {completion.text[:160]!r}")
            return parsed, tokens, seconds, reasons

        try:
            started = time.perf_counter()
            local_llm.ensure_server()
            print(f"server start: {time.perf_counter() - started:.1f} s ({local_llm.threads()} thread(s))")
            parsed, tokens, seconds, reasons = asyncio.run(run())
        finally:
            local_llm.stop_server()
    for reason in reasons:
        print(f"unparsed: {reason}")
    print(f"offline {family.name}: {args.requests} requests, {tokens} completion tokens in {seconds:.1f} s")
    print(f"offline: {tokens / seconds:.1f} tokens/s, parse rate {parsed}/{args.requests} = {parsed / args.requests:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--per-task", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3, help="repeat the measurements; medians are printed")
    parser.add_argument("--offline", action="store_true", help="measure the embedded model instead")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--family", default="short-long")
    args = parser.parse_args()
    offline(args) if args.offline else online(args)


if __name__ == "__main__":
    main()
