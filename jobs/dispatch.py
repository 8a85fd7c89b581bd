"""When a job becomes ready, and sending it: the one owner of "a job is ready and is sent".

A job is ready when every input succeeded; then it is marked dispatched in the catalog (the
outbox: from then on its message is owed) and sent to its queue. A job with an input that
failed or was cancelled fails too, naming it. Submitting, a finished job, a cancel, a retry
and the reconciler all come through here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from jobs.config import FarmSettings
from jobs.errors import BrokerUnreachable
from storage.catalog import Catalog
from storage.models import JobRecord, JobState

SEND_RETRY = {"max_retries": 5, "interval_start": 0.1, "interval_step": 0.5, "interval_max": 2}
BROKEN = (JobState.FAILED, JobState.CANCELLED)


def admit(settings: FarmSettings, catalog: Catalog, job: JobRecord,
          depends_on: Iterable[str]) -> tuple[JobRecord, bool]:
    """Insert a new job and send it if it is ready. One without inputs is catalogued as
    dispatched in the same write (the common case costs one transaction)."""
    deps = list(depends_on)
    if not deps:
        job.dispatched_at = job.created_at
    job, created = catalog.add_job(job, deps)
    if created and not deps:
        send_job(settings, job)
    elif created:
        dispatch_if_ready(settings, catalog, job)
    return job, created


def dispatch_if_ready(settings: FarmSettings, catalog: Catalog, job: JobRecord) -> bool:
    """Send a QUEUED job whose inputs all succeeded; fail it if an input failed."""
    deps = catalog.dependencies(job.id)
    if broken := [d for d in deps if d.state in BROKEN]:
        first = broken[0]
        if catalog.transition(job.id, [JobState.QUEUED], JobState.FAILED,
                              message="input failed",
                              error=f"input job {first.id[:12]} ({first.kind}) ended {first.state}"):
            job_ended(settings, catalog, job.id)  # and so on down the graph
        return False
    if pending := [d for d in deps if d.state != JobState.SUCCEEDED]:
        names = ", ".join(d.id[:12] for d in pending)
        catalog.set_progress(job.id, 0.0, reason=f"waiting for inputs: {names}")
        return False
    catalog.mark_dispatched(job.id)
    send_job(settings, job)
    return True


def job_ended(settings: FarmSettings, catalog: Catalog, job_id: str) -> None:
    """A job reached an end: its waiting dependents are sent on, or fail with it."""
    for dependent in catalog.dependents(job_id):
        if dependent.state == JobState.QUEUED:
            dispatch_if_ready(settings, catalog, dependent)


def resend(settings: FarmSettings, catalog: Catalog, job: JobRecord, why: str) -> None:
    """Send a dispatched job's message again (Redis lost it, or its runner vanished)."""
    catalog.mark_dispatched(job.id)
    catalog.note(job.id, f"sent again: {why}", job.attempts)
    send_job(settings, job)


def send_job(settings: FarmSettings, job: JobRecord) -> str:
    """Publish the job's message; the catalog row already exists, so a lost send is recoverable."""
    from jobs.app import app_for, kombu_priority, task_args, task_name

    task_id = f"{job.id}.{secrets.token_hex(4)}"
    try:
        app_for(settings).send_task(
            task_name(job.kind), args=[job.id], task_id=task_id, queue=job.tag,
            priority=kombu_priority(job.priority), retry=True, retry_policy=SEND_RETRY,
            argsrepr=task_args(job.id, job.kind), kwargsrepr="{}",
        )
    except Exception as exc:  # kombu raises many connection error types
        raise BrokerUnreachable(
            f"job {job.id[:12]} is in the catalog but could not be sent to Redis ({exc}); "
            "it stays QUEUED in the catalog; send it again with `farm reconcile`"
        ) from exc
    return task_id
