"""Start the real studio (`python app.py`) on a free loopback port for UI tests."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningStudio:
    url: str
    data_dir: Path
    process: subprocess.Popen

    @property
    def db_path(self) -> Path:
        return self.data_dir / "studio.db"


@contextmanager
def running_studio(data_dir, env: dict | None = None, timeout: float = 120.0):
    """Yield a RunningStudio started as a user would (`python app.py`), then stop it."""
    port = free_port()
    child_env = {**os.environ, "STUDIO_DATA_DIR": str(data_dir), "GRADIO_SERVER_PORT": str(port),
                 "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = open(Path(data_dir) / "studio-server.log", "wb")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=str(REPO_ROOT), env=child_env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the studio exited early: {(Path(data_dir) / 'studio-server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the studio did not answer within the time limit")
            time.sleep(0.3)
        yield RunningStudio(url, Path(data_dir), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
