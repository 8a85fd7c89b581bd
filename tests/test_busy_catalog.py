"""A busy catalog never fails running work: a job waits out a held write lock, and one that
outlasts the retry budget goes back to the queue and runs again; it is never FAILED for it."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from jobs.kinds import KINDS
from jobs.spec import parse_spec
from jobs.submit import submit_job
from storage.errors import CatalogBusy, CatalogDamaged, CatalogUnavailable
from storage.models import JobState
from tests.conftest import farm_json
from workers.attempt import JobRun
from workers.commit import outcome_of
from workers.context import ProcessContext


def _hold_write_lock(db: Path, seconds: float, held: threading.Event) -> threading.Thread:
    def hold() -> None:
        conn = sqlite3.connect(db, timeout=30, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the write lock; readers (WAL) go on reading
        held.set()
        time.sleep(seconds)  # the scenario: a backup tool or a DB browser holding the lock
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def _running(env: dict[str, str], job_id: str) -> None:
    deadline = time.monotonic() + 60
    while farm_json(env, "status", job_id)["state"] != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)


@pytest.mark.parametrize(("retry_s", "attempts"), [(300, 1), (2, 2)])
def test_a_job_outlives_a_write_lock_on_the_catalog(farm_env, start_worker, retry_s,
                                                    attempts) -> None:
    farm_env.update({"FARM_DB_BUSY_TIMEOUT_S": "1", "FARM_DB_RETRY_S": str(retry_s),
                     "FARM_RECONCILE_EVERY_S": "1"})
    start_worker()
    job_id = farm_json(farm_env, "submit", "probe", "-p", "tag=midi", "-p", "vram_mb=0",
                       "-p", "run_s=1.5")["job_id"]
    _running(farm_env, job_id)
    held = threading.Event()
    # Eight seconds: on a 2 s budget the commit (due 1.5 s in) gives up well before the lock goes.
    locker = _hold_write_lock(Path(farm_env["FARM_DB_URL"].removeprefix("sqlite:///")), 8, held)
    assert held.wait(10)
    locker.join(30)
    doc = farm_json(farm_env, "wait", job_id, "--timeout", "120", timeout=150)
    assert doc["state"] == "SUCCEEDED" and doc["error"] is None, doc
    # Within its budget the attempt waits and commits; past it, the job is queued again.
    assert doc["attempts"] == attempts, doc


@pytest.mark.parametrize("trouble", [CatalogBusy("database is locked"),
                                     CatalogUnavailable("connection reset"),
                                     CatalogDamaged("file is not a database")])
def test_the_catalogs_trouble_is_never_the_jobs_failure(ctx: ProcessContext, trouble) -> None:
    job, _ = submit_job(ctx.settings, parse_spec({"kind": "probe", "params": {"vram_mb": 0}}))
    attempt = ctx.catalog.claim(job.id, "w@h", 1, JobState.QUEUED, 0)
    assert attempt == 1
    run = JobRun(ctx.catalog.get_job(job.id), KINDS["probe"], {}, attempt, ctx,
                 threading.Event())
    outcome = outcome_of(run, trouble)
    assert "left to the reconciler" in outcome, outcome
    assert ctx.catalog.get_job(job.id).state == JobState.RUNNING  # not FAILED: it runs again
