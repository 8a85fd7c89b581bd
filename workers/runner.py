"""Run one delivery of a job: claim it, run its kind, store outputs, commit once."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from jobs.presence import job_heartbeat, this_host
from jobs.submit import dispatch_if_ready
from storage.errors import StorageError
from storage.models import ArtifactRecord, JobRecord, JobState, LineageEdge
from storage.outputs import link_output
from workers.context import ProcessContext, process_context
from workers.heartbeat import JobHeartbeat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutput:
    name: str
    data: bytes
    media_type: str


class JobInputError(Exception):
    """The job's own inputs are wrong: it fails with this message and is not retried."""


Handler = Callable[[JobRecord, dict, ProcessContext], list[JobOutput]]


def run_delivery(job_id: str, handler: Handler, worker: str) -> str:
    """Handle one delivery of a job's message; returns what happened, for the log."""
    ctx = process_context()
    job = ctx.catalog.get_job(job_id)
    if not _may_take(ctx, job):
        return f"dropped duplicate delivery of {job_id[:12]} ({job.state})"
    attempt = ctx.catalog.claim(job.id, worker, os.getpid(), job.state, job.attempts)
    if attempt is None:
        return f"dropped {job_id[:12]}: another delivery claimed it first"
    with JobHeartbeat(ctx.settings, ctx.redis, job.id, worker):
        outcome = _run_attempt(ctx, job, attempt, handler)
    for dependent in ctx.catalog.dependents(job.id):
        if dependent.state == JobState.QUEUED:
            dispatch_if_ready(ctx.catalog, dependent)
    return outcome


def _may_take(ctx: ProcessContext, job: JobRecord) -> bool:
    """QUEUED jobs, and active ones whose runner is gone (its heartbeat expired or its pid died)."""
    if job.state.is_terminal:
        return False
    if job.state == JobState.QUEUED:
        return True
    beat = job_heartbeat(ctx.settings, ctx.redis, job.id)
    if beat is None:
        return True
    return beat.get("host") == this_host() and not _pid_alive(int(beat.get("pid", 0)))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_attempt(ctx: ProcessContext, job: JobRecord, attempt: int, handler: Handler) -> str:
    params = json.loads(job.params_json)["params"]
    try:
        outputs = handler(job, params, ctx)
        records = _store_outputs(ctx, job, attempt, outputs)
    except (JobInputError, StorageError) as exc:
        return _fail(ctx, job, attempt, str(exc))
    except Exception as exc:
        log.exception("job %s crashed", job.id)
        return _fail(ctx, job, attempt, f"internal error: {type(exc).__name__}: {exc}")
    lineage = [LineageEdge(child_id=r.id, parent_id=job.id, relation="produced_by") for r in records]
    lineage += [LineageEdge(child_id=job.id, parent_id=dep.id, relation="input")
                for dep in ctx.catalog.dependencies(job.id)]
    if not ctx.catalog.commit_result(job.id, attempt, records, lineage):
        return f"commit of {job.id[:12]} attempt {attempt} refused: cancelled or superseded"
    for record in records:
        link_output(ctx.settings.outputs_dir, job.project, job.id, record.name,
                    ctx.store.path_for(record.sha256))
    return f"{job.id[:12]} succeeded with {len(records)} artifacts"


def _store_outputs(ctx: ProcessContext, job: JobRecord, attempt: int,
                   outputs: list[JobOutput]) -> list[ArtifactRecord]:
    records = []
    for output in outputs:
        blob = ctx.store.put_bytes(output.data)
        records.append(ArtifactRecord(
            id=uuid.uuid4().hex, job_id=job.id, attempt=attempt, name=output.name,
            sha256=blob.sha256, media_type=output.media_type, bytes=blob.size,
        ))
    return records


def _fail(ctx: ProcessContext, job: JobRecord, attempt: int, error: str) -> str:
    ctx.catalog.transition(job.id, [JobState.RUNNING], JobState.FAILED, message="failed",
                           attempt=attempt, error=error)
    return f"{job.id[:12]} failed: {error}"
