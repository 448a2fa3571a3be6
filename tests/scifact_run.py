"""The SciFact reference evaluation, started in the background as soon as the suite is collected.

It is one long command (`python -m studio eval --model minilm` over 5,183 documents: minutes of
CPU) that depends on nothing else, so it runs beside the rest of the suite in a scheduling group
of its own at the lowest priority, on the CPU the other tests leave idle, and its test (moved to
the end of the run) collects the result. Run alone, the test simply waits for it.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from studio.jobs import lower_priority
from tests.outside import scifact_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
LOWEST = 19

_running: dict = {}


def start() -> None:
    """Start the evaluation once per session (does nothing when SciFact is missing: the test says so)."""
    if _running or not (scifact_dir() / "corpus.jsonl").is_file():
        return
    folder = Path(tempfile.mkdtemp(prefix="scifact-run-"))
    env = {**os.environ, "STUDIO_DATA_DIR": str(folder / "data"), "HF_HUB_OFFLINE": "1"}
    out, err = open(folder / "stdout", "w"), open(folder / "stderr", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "eval", "--model", "minilm", "--beir", str(scifact_dir()), "--json"],
        cwd=REPO_ROOT, env=env, stdout=out, stderr=err, start_new_session=True)
    out.close()
    err.close()
    lower_priority(process.pid, LOWEST)
    _running.update(process=process, folder=folder)


def result(timeout: float = 3600) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the evaluation, waiting for it to finish."""
    start()
    process, folder = _running["process"], _running["folder"]
    returncode = process.wait(timeout=timeout)
    return returncode, (folder / "stdout").read_text(), (folder / "stderr").read_text()


def stop() -> None:
    process = _running.get("process")
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
