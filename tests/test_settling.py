"""A light job's outputs are committed behind its task: it stays RUNNING and alive until then,
the process's next job waits for that commit, and a worker's warm shutdown finishes it."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from jobs.kinds import KINDS
from jobs.presence import job_heartbeat
from jobs.spec import parse_spec
from jobs.submit import submit_job
from storage.catalog import Catalog
from storage.models import JobState
from tests.conftest import farm_json
from workers.context import ProcessContext
from workers.probe import run_probe
from workers.runner import run_delivery
from workers.settler import wait_for_settling


@contextmanager
def sqlite_write_lock(db_url: str) -> Iterator[None]:
    """Hold the catalog's write lock from another connection: every commit waits meanwhile."""
    conn = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _lock_once_running(catalog: Catalog, db_url: str, job_id: str, held: threading.Event,
                       release: threading.Event) -> threading.Thread:
    """A thread that takes the write lock once the job runs (its claim has committed)."""

    def hold() -> None:
        while catalog.get_job(job_id).state != JobState.RUNNING:
            time.sleep(0.01)
        with sqlite_write_lock(db_url):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def _probe(ctx: ProcessContext, run_s: float = 0, fail: bool = False,
           after: list[str] | None = None) -> str:
    spec = {"kind": "probe", "params": {"tag": "midi", "vram_mb": 0, "run_s": run_s,
                                        "fail": fail}, "depends_on": after or []}
    return submit_job(ctx.settings, parse_spec(spec))[0].id


def test_light_job_commits_behind_its_task_and_the_next_job_waits(ctx: ProcessContext) -> None:
    catalog, db_url = ctx.catalog, ctx.settings.catalog_url
    first, second = _probe(ctx, run_s=0.5), _probe(ctx, run_s=0)
    held, release = threading.Event(), threading.Event()
    locker = _lock_once_running(catalog, db_url, first, held, release)
    try:
        outcome = run_delivery(first, KINDS["probe"], run_probe, "w@host")
        assert held.is_set() and "being committed" in outcome, outcome
        # The task is over, the commit is not: the job is RUNNING and its heartbeat says alive.
        assert catalog.get_job(first).state == JobState.RUNNING
        deadline = time.monotonic() + 1.0
        while job_heartbeat(ctx.settings, ctx.redis, first) is None:
            assert time.monotonic() < deadline, "a job being committed must keep its heartbeat"
            time.sleep(0.02)
        next_delivery = threading.Thread(target=run_delivery,
                                         args=(second, KINDS["probe"], run_probe, "w@host"))
        next_delivery.start()
        time.sleep(0.3)
        assert catalog.get_job(second).state == JobState.QUEUED, "it must wait for the commit"
    finally:
        release.set()
        locker.join(30)
    next_delivery.join(30)
    wait_for_settling()
    done = [catalog.get_job(first), catalog.get_job(second)]
    assert [(j.state, j.attempts) for j in done] == [(JobState.SUCCEEDED, 1)] * 2
    assert [len(catalog.artifacts(j.id)) for j in done] == [1, 1]
    started, finished = done[1].started_at, done[0].finished_at
    assert started is not None and finished is not None
    assert started >= finished  # the second ran only after the first was committed
    assert job_heartbeat(ctx.settings, ctx.redis, first) is None


def test_light_job_that_fails_ends_failed_at_once_and_fails_its_dependents(
        ctx: ProcessContext) -> None:
    failing = _probe(ctx, fail=True)
    dependent = _probe(ctx, after=[failing])
    outcome = run_delivery(failing, KINDS["probe"], run_probe, "w@host")
    assert "failed" in outcome, outcome  # nothing left to settle: the task said how it ended
    job = ctx.catalog.get_job(failing)
    assert job.state == JobState.FAILED and "asked to fail" in (job.error or "")
    assert job_heartbeat(ctx.settings, ctx.redis, failing) is None
    assert ctx.catalog.artifacts(failing) == []
    after = ctx.catalog.get_job(dependent)
    assert after.state == JobState.FAILED and failing[:12] in (after.error or "")


def test_warm_shutdown_finishes_the_commit_of_the_last_job(farm_env, start_worker) -> None:
    worker = start_worker(tags="midi")
    job_id = farm_json(farm_env, "submit", "probe", "-p", "tag=midi", "-p", "vram_mb=0",
                       "-p", "run_s=0.5")["job_id"]
    catalog = Catalog(farm_env["FARM_DB_URL"])
    held, release = threading.Event(), threading.Event()
    locker = _lock_once_running(catalog, farm_env["FARM_DB_URL"], job_id, held, release)
    try:
        assert held.wait(60), "the job never ran"
        deadline = time.monotonic() + 30  # its run is over; its commit waits for the lock
        while f"{job_id[:12]} ran; its 1 outputs are being committed" not in worker.log.read_text():
            assert time.monotonic() < deadline, "the job's run never ended"
            time.sleep(0.05)
        worker.proc.send_signal(signal.SIGTERM)
        # Longer than a pool process lingers on its way out (1 s): without waiting for its
        # commit, it would be gone by now and the job left RUNNING for the reconciler.
        time.sleep(2.5)
        assert catalog.get_job(job_id).state == JobState.RUNNING
    finally:
        release.set()
        locker.join(30)
    assert worker.proc.wait(30) == 0
    job = catalog.get_job(job_id)
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 1), job.error
    assert [a.name for a in catalog.artifacts(job_id)] == ["probe.json"]
