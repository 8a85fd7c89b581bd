"""A running job's heartbeat and cancel ear, and how a duplicate delivery judges a running job."""

from __future__ import annotations

import subprocess
import sys
import time

import redis

from jobs.config import FarmSettings
from jobs.presence import cancel_key, job_heartbeat, this_host
from jobs.spec import parse_spec
from jobs.submit import submit_job
from storage.models import JobState
from workers.context import ProcessContext
from workers.heartbeat import JobHeartbeat
from workers.probe import PROBE
from workers.runner import run_delivery
from workers.settler import wait_for_settling


def _client(settings: FarmSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_client_url)


def test_running_job_is_seen_alive_within_a_beat_and_not_after(ctx: ProcessContext) -> None:
    client = _client(ctx.settings)
    with JobHeartbeat(ctx.settings, client, "job-a", "w@host"):
        deadline = time.monotonic() + 1.0
        while job_heartbeat(ctx.settings, client, "job-a") is None:
            assert time.monotonic() < deadline, "no heartbeat within a second of the start"
            time.sleep(0.02)
        time.sleep(1.2)  # past one interval: still alive, refreshed
        beat = job_heartbeat(ctx.settings, client, "job-a")
        assert beat is not None and beat["worker"] == "w@host"
    assert job_heartbeat(ctx.settings, client, "job-a") is None


def test_a_short_job_leaves_no_heartbeat_behind(ctx: ProcessContext) -> None:
    client = _client(ctx.settings)
    with JobHeartbeat(ctx.settings, client, "job-b", "w@host"):
        pass
    time.sleep(0.3)
    assert job_heartbeat(ctx.settings, client, "job-b") is None


def test_cancel_reaches_a_running_job_within_a_fraction_of_a_second(ctx: ProcessContext) -> None:
    client = _client(ctx.settings)
    with JobHeartbeat(ctx.settings, client, "job-c", "w@host") as beat:
        assert not beat.cancelled.wait(0.3)
        client.set(cancel_key(ctx.settings, "job-c"), 1)
        assert beat.cancelled.wait(1.0)


def _running_job(ctx: ProcessContext, pid: int) -> str:
    job, _ = submit_job(ctx.settings, parse_spec({"kind": "probe", "params": {"vram_mb": 0}}))
    assert ctx.catalog.claim(job.id, f"w-{pid}@{this_host()}", pid, JobState.QUEUED, 0) == 1
    return job.id


def test_duplicate_delivery_leaves_a_fresh_live_run_alone(ctx: ProcessContext) -> None:
    # Its runner lives and has not beaten yet (its first beat is due within a poll).
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        job_id = _running_job(ctx, pid=runner.pid)
        outcome = run_delivery(job_id, PROBE, "other")
    finally:
        runner.kill()
        runner.wait()
    assert outcome.startswith("nothing to run"), outcome
    assert ctx.catalog.get_job(job_id).attempts == 1


def test_duplicate_delivery_takes_over_a_run_whose_process_died_here(ctx: ProcessContext) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job_id = _running_job(ctx, pid=dead.pid)
    assert "ran" in run_delivery(job_id, PROBE, "other")
    wait_for_settling()
    job = ctx.catalog.get_job(job_id)
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)

