"""Getting a job in: write it to the catalog (the outbox), then send it to its Redis queue."""

from __future__ import annotations

import secrets
import uuid

from jobs.broker import check_redis
from jobs.config import FarmSettings
from jobs.errors import BadJobSpec, BrokerUnreachable
from jobs.home import ensure_home, open_catalog
from jobs.kinds import model_of, queue_for
from jobs.spec import JobSpec
from storage.catalog import Catalog
from storage.errors import UnknownJob
from storage.models import JobRecord, JobState

SEND_RETRY = {"max_retries": 5, "interval_start": 0.1, "interval_step": 0.5, "interval_max": 2}


def submit_job(settings: FarmSettings, spec: JobSpec) -> tuple[JobRecord, bool]:
    """Queue a job; returns it and whether it is new (False: its idempotency key was known)."""
    ensure_home(settings)
    check_redis(settings)
    catalog = open_catalog(settings)
    deps = [_resolve_dep(catalog, dep) for dep in spec.depends_on]
    spec = spec.with_seed()
    assert spec.seed is not None
    job = JobRecord(
        id=uuid.uuid4().hex, kind=spec.kind, tag=queue_for(spec.kind, spec.params),
        state=JobState.QUEUED, params_json=spec.stored_params(),
        seed=spec.seed, priority=spec.priority, project=spec.project,
        model=model_of(spec.kind, spec.params, settings),
        idempotency_key=spec.idempotency_key,
    )
    job, created = catalog.add_job(job, deps)
    if created and not deps:
        send_job(job)  # catalogued as dispatched already: the outbox owes this message
    elif created:
        dispatch_if_ready(catalog, job)
    return job, created


def _resolve_dep(catalog: Catalog, dep: str) -> str:
    try:
        return catalog.get_job(dep).id
    except UnknownJob as exc:
        raise BadJobSpec(f"depends_on: {exc}") from None


def dispatch_if_ready(catalog: Catalog, job: JobRecord) -> bool:
    """Send a QUEUED job whose inputs all succeeded; fail it if an input failed."""
    deps = catalog.dependencies(job.id)
    broken = [d for d in deps if d.state in (JobState.FAILED, JobState.CANCELLED)]
    if broken:
        first = broken[0]
        catalog.transition(job.id, [JobState.QUEUED], JobState.FAILED,
                           message="input failed",
                           error=f"input job {first.id[:12]} ({first.kind}) ended {first.state}")
        return False
    pending = [d for d in deps if d.state != JobState.SUCCEEDED]
    if pending:
        names = ", ".join(d.id[:12] for d in pending)
        catalog.set_progress(job.id, 0.0, reason=f"waiting for inputs: {names}")
        return False
    catalog.mark_dispatched(job.id)
    send_job(job)
    return True


def send_job(job: JobRecord) -> str:
    """Publish the job's message; the catalog row already exists, so a lost send is recoverable."""
    from jobs.app import app, kombu_priority, task_name

    task_id = f"{job.id}.{secrets.token_hex(4)}"
    try:
        app.send_task(
            task_name(job.kind), args=[job.id], task_id=task_id, queue=job.tag,
            priority=kombu_priority(job.priority), retry=True, retry_policy=SEND_RETRY,
        )
    except Exception as exc:  # kombu raises many connection error types
        raise BrokerUnreachable(
            f"job {job.id[:12]} is in the catalog but could not be sent to Redis ({exc}); "
            "it stays QUEUED in the catalog; send it again with `farm reconcile`"
        ) from exc
    return task_id
