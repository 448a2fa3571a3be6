import os
import signal
import subprocess

import pytest

from storage import jobs as job_rows
from storage.db import open_db
from studio.jobs import (JobContext, autogroup_nice, is_alive, job_nice, launch, parse_autogroup, process_start_time,
                         reap)


def _job_with_process(db, process):
    job_id = job_rows.create_job(db, "generate", {"family": "sts"})
    job_rows.mark_started(db, job_id, process.pid, process_start_time(process.pid))
    return job_id


def test_a_killed_job_is_marked_interrupted(db_path):
    db = open_db(db_path)
    process = subprocess.Popen(["sleep", "30"])
    job_id = _job_with_process(db, process)
    assert reap(db) == []
    assert job_rows.get_job(db, job_id)["state"] == "running"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert reap(db) == [job_id]
    job = job_rows.get_job(db, job_id)
    assert job["state"] == "interrupted" and "resume" in job["error"]


def test_a_reused_pid_does_not_count_as_alive():
    process = subprocess.Popen(["sleep", "30"])
    try:
        assert is_alive(process.pid, process_start_time(process.pid))
        assert not is_alive(process.pid, "12345")  # another process's start time
    finally:
        process.kill()
        process.wait()
    assert not is_alive(process.pid, None)


def test_job_context_reports_progress_cancel_and_finish(db_path):
    job = JobContext.create(db_path, "generate", {"family": "sts", "per_task": 2})
    job.progress(3, 12, message="working", stats={"failed": 1})
    row = job_rows.get_job(job.db, job.job_id)
    assert (row["state"], row["done"], row["total"], row["progress"], row["stats"]) == (
        "running", 3, 12, 0.25, {"failed": 1})
    assert not job.cancel_requested()
    job_rows.request_cancel(job.db, job.job_id)
    assert job.cancel_requested()
    job.cancelled(stats={"failed": 1, "done": 3})
    assert job_rows.get_job(job.db, job.job_id)["state"] == "cancelled"


def test_a_queued_job_that_never_started_is_cancelled_at_once(db_path):
    db = open_db(db_path)
    job_id = job_rows.create_job(db, "train", {})
    job_rows.request_cancel(db, job_id)
    assert job_rows.get_job(db, job_id)["state"] == "cancelled"


@pytest.mark.parametrize("setting, steps", [(None, 10), ("0", 0), ("3", 3)])
def test_jobs_run_below_the_web_servers_priority_so_clicks_stay_fast(db_path, monkeypatch, setting, steps):
    if setting is None:
        monkeypatch.delenv("STUDIO_JOB_NICE", raising=False)
    else:
        monkeypatch.setenv("STUDIO_JOB_NICE", setting)
    job_id = launch(db_path, "generate", ["--help"])  # any quick command: only its priority matters
    pid = job_rows.get_job(open_db(db_path), job_id)["pid"]
    own = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, own + steps)
        own_group = autogroup_nice(os.getpid())
        if own_group is not None:  # the kernel schedules sessions as groups: the job's group must yield too
            assert autogroup_nice(pid) == min(19, own_group + steps)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_an_autogroup_file_that_says_nothing_is_no_error():
    # Some containers show an empty /proc/PID/autogroup: jobs (and the suite) must still start.
    assert parse_autogroup("/autogroup-698 nice 0\n") == 0
    assert parse_autogroup("/autogroup-12 nice -5") == -5
    assert parse_autogroup("") is None
    assert parse_autogroup("garbage") is None
    assert parse_autogroup("/autogroup-1 nice x") is None


def test_a_nonsense_nice_setting_falls_back_to_the_default():
    assert job_nice({"STUDIO_JOB_NICE": "lots"}) == 10
    assert job_nice({"STUDIO_JOB_NICE": "99"}) == 19
    assert job_nice({}) == 10
