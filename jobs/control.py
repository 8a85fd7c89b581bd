"""Changing jobs on request: cancel, retry, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from jobs.broker import check_redis, redis_client
from jobs.config import FarmSettings
from jobs.dispatch import dispatch_if_ready, job_ended
from jobs.errors import NotRetryable
from jobs.home import open_catalog, open_store
from jobs.keys import FarmKeys
from storage.models import ACTIVE_STATES, JobState
from storage.outputs import export_blobs


def cancel_job(settings: FarmSettings, job_id: str) -> dict[str, Any]:
    """Cancel a job that has not ended; a running attempt's commit is then refused."""
    catalog = open_catalog(settings)
    job = catalog.get_job(job_id)
    if job.state.is_terminal:
        return {"job_id": job.id, "cancelled": False, "state": str(job.state),
                "message": f"job {job.id[:12]} already {job.state}; nothing to cancel"}
    moved = catalog.transition(job.id, ACTIVE_STATES, JobState.CANCELLED,
                               message="cancelled by user", reason="cancelled by user", hold=None)
    if moved:
        _signal_cancel(settings, job.id)
    job = catalog.get_job(job.id)
    job_ended(settings, catalog, job.id)
    verb = "cancelled" if moved else f"ended {job.state} before it could be cancelled"
    return {"job_id": job.id, "cancelled": moved, "state": str(job.state),
            "message": f"job {job.id[:12]} {verb}"}


def _signal_cancel(settings: FarmSettings, job_id: str) -> None:
    """Tell a running attempt to stop now; the catalog already refuses its commit."""
    try:
        redis_client(settings).set(FarmKeys(settings.namespace).cancel(job_id), "1", ex=24 * 3600)
    except (redis.RedisError, OSError):
        pass  # no Redis: no runner can be alive to hear it either


def retry_job(settings: FarmSettings, job_id: str) -> dict[str, Any]:
    """Send a FAILED or CANCELLED job again under the same id and seed."""
    catalog = open_catalog(settings)
    job = catalog.get_job(job_id)
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        hint = ("it is still active" if job.state in ACTIVE_STATES
                else "it succeeded; submit it again to make another")
        raise NotRetryable(f"job {job.id[:12]} is {job.state}: {hint}")
    check_redis(settings).delete(FarmKeys(settings.namespace).cancel(job.id))
    catalog.transition(job.id, [job.state], JobState.QUEUED, message="retry requested",
                       error=None, reason=None, finished_at=None, hold=None, not_before=None,
                       last_error=None, error_count=None, failures=None)
    dispatch_if_ready(settings, catalog, catalog.get_job(job.id))
    job = catalog.get_job(job.id)
    return {"job_id": job.id, "state": str(job.state),
            "message": f"job {job.id[:12]} queued again (attempts so far: {job.attempts})"}


def export_job(settings: FarmSettings, job_id: str, dest: Path) -> list[Path]:
    """A job's artifacts as plain files in `dest`, every one checked against its hash first;
    nothing is left there when one is bad."""
    catalog, store = open_catalog(settings), open_store(settings)
    job = catalog.get_job(job_id)
    items = [(a.name, store.path_for(a.sha256), a.sha256) for a in catalog.artifacts(job.id)]
    return export_blobs(items, dest)
