"""A running job's heartbeat and cancel ear, and how a duplicate delivery judges a running job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import redis

from jobs.config import FarmSettings
from jobs.keys import FarmKeys
from jobs.kinds import KINDS
from jobs.presence import job_heartbeat
from jobs.spec import parse_spec
from jobs.submit import submit_job
from storage.models import JobState
from workers.context import ProcessContext
from workers.heartbeat import JobHeartbeat
from workers.probe import run_probe
from workers.runner import run_delivery
from workers.settler import wait_for_settling


def _client(settings: FarmSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_client_url)


def _until(condition: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_running_job_beats_within_a_poll_is_refreshed_and_ends_with_it(ctx: ProcessContext) -> None:
    client = _client(ctx.settings)
    key = FarmKeys(ctx.settings.namespace).job_alive("job-a")
    ttl_ms = ctx.settings.heartbeat_s * 3000
    with JobHeartbeat(ctx.settings, client, "job-a", "w@host"):
        _until(lambda: job_heartbeat(ctx.settings, client, "job-a") is not None, 1.0,
               "no heartbeat within a second of the start")
        beat = job_heartbeat(ctx.settings, client, "job-a")
        assert beat is not None and beat["worker"] == "w@host" and beat["pid"] == os.getpid()
        # Its time to live runs down, and a refresh (one interval later) sets it full again.
        _until(lambda: int(client.pttl(key)) < ttl_ms - 500, 2.0, "the heartbeat's TTL stands still")
        _until(lambda: int(client.pttl(key)) > ttl_ms - 300, 2 * ctx.settings.heartbeat_s + 1,
               "the heartbeat was never refreshed")
    assert job_heartbeat(ctx.settings, client, "job-a") is None  # deleted as it ends


def test_a_job_shorter_than_a_poll_writes_no_heartbeat(ctx: ProcessContext) -> None:
    client = _client(ctx.settings)
    key = FarmKeys(ctx.settings.namespace).job_alive("job-b")
    with JobHeartbeat(ctx.settings, client, "job-b", "w@host"):
        pass
    with JobHeartbeat(ctx.settings, client, "job-marker", "w@host"):  # beats at the next look
        _until(lambda: job_heartbeat(ctx.settings, client, "job-marker") is not None, 1.0,
               "the marker job never beat")
    assert not client.exists(key)


def test_cancel_reaches_a_running_job_within_a_fraction_of_a_second(ctx: ProcessContext) -> None:
    client = _client(ctx.settings)
    with JobHeartbeat(ctx.settings, client, "job-c", "w@host") as beat:
        assert not beat.cancelled.wait(0.3)
        client.set(FarmKeys(ctx.settings.namespace).cancel("job-c"), 1)
        assert beat.cancelled.wait(1.0)


def _running_job(ctx: ProcessContext, pid: int) -> str:
    job, _ = submit_job(ctx.settings, parse_spec({"kind": "probe", "params": {"vram_mb": 0}}))
    assert ctx.catalog.claim(job.id, f"w-{pid}@{ctx.settings.host}", pid, JobState.QUEUED, 0) == 1
    return job.id


def test_duplicate_delivery_leaves_a_fresh_live_run_alone(ctx: ProcessContext) -> None:
    # Its runner lives and has not beaten yet (its first beat is due within a poll).
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        job_id = _running_job(ctx, pid=runner.pid)
        outcome = run_delivery(job_id, KINDS["probe"], run_probe, "other")
    finally:
        runner.kill()
        runner.wait()
    assert outcome.startswith("nothing to run"), outcome
    assert ctx.catalog.get_job(job_id).attempts == 1


def test_duplicate_delivery_takes_over_a_run_whose_process_died_here(ctx: ProcessContext) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job_id = _running_job(ctx, pid=dead.pid)
    assert "ran" in run_delivery(job_id, KINDS["probe"], run_probe, "other")
    wait_for_settling()
    job = ctx.catalog.get_job(job_id)
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)

