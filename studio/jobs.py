"""Background jobs: each runs as `python -m studio ...` in its own process and reports to the database.

The UI and the command line only start jobs and read their rows; a job outlives the browser tab
and the UI process. A job whose process is gone while its row still says running is marked
interrupted by `reap`, and can be resumed by its kind.
"""

import os
from contextlib import contextmanager
import subprocess
import sys
from pathlib import Path

from storage import jobs as job_rows
from storage.db import open_db
from studio.config import REPO_ROOT, data_dir
from studio.errors import StudioError

NICE_ENV = "STUDIO_JOB_NICE"
DEFAULT_NICE = 10


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # zombie or dead: finished but not yet reaped by its parent
        return None
    return fields[19]


def is_alive(pid: int | None, pid_start: str | None) -> bool:
    if not pid:
        return False
    started = process_start_time(pid)
    return started is not None and (pid_start is None or started == pid_start)


def log_path(job_id: int) -> Path:
    folder = data_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"job-{job_id}.log"


def job_nice(environ=None) -> int:
    """How far below the web server a job runs (STUDIO_JOB_NICE, default 10; 0 = the same priority)."""
    environ = os.environ if environ is None else environ
    try:
        return max(0, min(19, int(environ.get(NICE_ENV) or DEFAULT_NICE)))
    except ValueError:
        return DEFAULT_NICE


def lower_priority(pid: int, nice: int) -> None:
    """Run process `pid` `nice` steps below this one (the web server's) priority.

    Set from here rather than inside the job, so the job's own children (torchrun workers, the
    local LLM server) inherit it and in-process callers of the job code keep their priority.
    A job runs in a session of its own, and where the kernel groups sessions for scheduling
    (autogroup, on in most Linux distributions) a process's nice value only counts inside its
    group: the group's nice value, in /proc/PID/autogroup, is what the web server competes with."""
    if nice <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
    except OSError:  # gone already, or not allowed: the job still runs, at normal priority
        pass
    own_group = autogroup_nice(os.getpid())
    if own_group is None:  # no autogroup in this kernel (or hidden, as in some containers)
        return
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(min(19, own_group + nice)))
    except OSError:  # gone already, or not allowed
        pass


def autogroup_nice(pid: int) -> int | None:
    """The nice value of process `pid`'s scheduling group, or None where the kernel does not say."""
    try:
        return parse_autogroup(Path(f"/proc/{pid}/autogroup").read_text())
    except OSError:
        return None


def parse_autogroup(text: str) -> int | None:
    """The nice value in a /proc/PID/autogroup line such as "/autogroup-698 nice 0"; None if it has none."""
    words = text.split()
    if len(words) >= 2 and words[-2] == "nice":
        try:
            return int(words[-1])
        except ValueError:
            return None
    return None


def launch(db_path, kind: str, argv: list[str], args: dict | None = None, env: dict | None = None,
           resumed_from: int | None = None) -> int:
    """Start `python -m studio <argv> --db DB --job-id ID` in the background; return the job id.

    `args` is what the job row shows (never secrets); `env` carries secrets such as API keys.
    """
    db = open_db(db_path)
    job_id = job_rows.create_job(db, kind, args if args is not None else {"argv": argv},
                                 resumed_from=resumed_from)
    command = [sys.executable, "-m", "studio", *argv, "--db", str(db_path), "--job-id", str(job_id)]
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")]))
    with open(log_path(job_id), "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=str(REPO_ROOT), env=child_env, start_new_session=True)
    # A job shares the machine with the web server: a click must not wait behind training.
    lower_priority(process.pid, job_nice(child_env))
    _children[job_id] = process
    job_rows.set_pid(db, job_id, process.pid, process_start_time(process.pid))
    return job_id


_children: dict[int, subprocess.Popen] = {}


def reap(db) -> list[int]:
    """Mark as interrupted every queued/running job whose process no longer exists."""
    for process in list(_children.values()):
        process.poll()  # collect finished children so they do not linger as zombies
    interrupted = []
    for job in job_rows.active_jobs(db):
        if job["pid"] is None:
            continue  # created, not yet spawned
        if not is_alive(job["pid"], job["pid_start"]):
            fresh = job_rows.get_job(db, job["id"])
            if fresh and fresh["state"] in job_rows.ACTIVE_STATES:
                job_rows.finish_job(db, job["id"], "interrupted",
                                    error="The job's process stopped before finishing; resume it to continue.")
                interrupted.append(job["id"])
    return interrupted


def cancel(db, job_id: int) -> None:
    """Ask a job to stop at its next safe point (it keeps what it has done)."""
    job_rows.request_cancel(db, job_id)


class JobContext:
    """What a job process uses to report: progress, cancellation, the final state."""

    def __init__(self, db, job_id: int):
        self.db = db
        self.job_id = job_id

    @classmethod
    def attach(cls, db_path, job_id: int) -> "JobContext":
        db = open_db(db_path)
        pid = os.getpid()
        job_rows.mark_started(db, job_id, pid, process_start_time(pid))
        return cls(db, job_id)

    @classmethod
    def create(cls, db_path, kind: str, args: dict, resumed_from: int | None = None) -> "JobContext":
        """For a command run straight from the shell: it gets a job row too, so the UI shows it."""
        db = open_db(db_path)
        job_id = job_rows.create_job(db, kind, args, resumed_from=resumed_from)
        pid = os.getpid()
        job_rows.mark_started(db, job_id, pid, process_start_time(pid))
        return cls(db, job_id)

    @classmethod
    def for_command(cls, db_path, job_id: int | None, kind: str, args: dict) -> "JobContext":
        return cls.attach(db_path, job_id) if job_id else cls.create(db_path, kind, args)

    def progress(self, done: int, total: int | None, message: str | None = None, stats: dict | None = None):
        job_rows.update_progress(self.db, self.job_id, done, total, message, stats)

    def cancel_requested(self) -> bool:
        return job_rows.cancel_requested(self.db, self.job_id)

    def finish(self, stats: dict | None = None, message: str | None = None) -> None:
        job_rows.finish_job(self.db, self.job_id, "done", stats=stats, message=message)

    def cancelled(self, stats: dict | None = None) -> None:
        job_rows.finish_job(self.db, self.job_id, "cancelled", stats=stats, message="Cancelled.")

    def fail(self, message: str, stats: dict | None = None) -> None:
        job_rows.finish_job(self.db, self.job_id, "failed", error=message, stats=stats)

    @contextmanager
    def failing(self, what: str, stats: dict | None = None):
        """Mark the job failed when the work inside raises (and let it raise): a job must end in a
        state the UI can show. A StudioError's sentence is the reason; anything else is '`what` stopped: …'."""
        try:
            yield
        except StudioError as error:
            self.fail(str(error), stats=stats)
            raise
        except Exception as error:
            self.fail(f"{what} stopped: {error}", stats=stats)
            raise
