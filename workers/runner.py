"""Run one delivery of a job: claim it, take the GPU if its kind needs one, run, store, commit once."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import redis

from jobs.errors import BrokerUnreachable
from jobs.kinds import needs_gpu
from jobs.presence import job_heartbeat, this_host
from jobs.submit import dispatch_if_ready, send_job
from storage.errors import StorageError
from storage.models import ArtifactRecord, JobRecord, JobState, LineageEdge, utcnow
from storage.outputs import link_output
from workers.context import ProcessContext, process_context
from workers.errors import JobCancelled, LeaseLost
from workers.gpu import Lease
from workers.heartbeat import FIRST_BEAT_WITHIN_S, JobHeartbeat
from workers.residency import Residency
from workers.settler import settler, wait_for_settling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutput:
    name: str
    data: bytes
    media_type: str


def json_bytes(data: dict) -> bytes:
    """A JSON output as stored: sorted keys, so the same content gives the same blob."""
    return (json.dumps(data, sort_keys=True, indent=1) + "\n").encode()


class JobInputError(Exception):
    """The job's own inputs are wrong: it fails with this message and is not retried."""


@dataclass
class JobRun:
    """What a kind's handler gets: the job, its params, and the means to stop or hold a GPU."""

    job: JobRecord
    params: dict
    attempt: int
    ctx: ProcessContext
    cancelled: threading.Event
    residency: Residency | None = None
    lease: Lease | None = None
    given: list[str] = field(default_factory=list)  # params the submitter named
    # (parent id, relation) of what the outputs came from beyond the job: input artifacts, models
    sources: list[tuple[str, str]] = field(default_factory=list)

    def note(self, message: str) -> None:
        """A line in the job's history: what was loaded, which fallback was taken."""
        self.ctx.catalog.note(self.job.id, message, self.attempt)


@dataclass(frozen=True)
class KindRunner:
    run: Callable[[JobRun], list[JobOutput]]
    model_of: Callable[[dict], str | None] = field(default=lambda params: None)
    vram_mb_of: Callable[[dict], int] = field(default=lambda params: 0)


def run_delivery(job_id: str, runner: KindRunner, worker: str) -> str:
    """Handle one delivery of a job's message; returns what happened, for the log."""
    ctx = process_context()
    wait_for_settling()  # this process's previous job is committed before the next starts
    delivered = ctx.catalog.get_job(job_id)
    heavy = needs_gpu(delivered.kind, json.loads(delivered.params_json)["params"], ctx.settings)
    claimed = _claim_turn(ctx, delivered, worker) if heavy else _claim(ctx, delivered, worker)
    if claimed is None:
        return f"nothing to run for delivery of {job_id[:12]} ({delivered.state})"
    job, attempt = claimed
    stored = json.loads(job.params_json)
    heartbeat = JobHeartbeat(ctx.settings, ctx.redis, job.id, worker)
    run = JobRun(job, stored["params"], attempt, ctx, heartbeat.cancelled,
                 given=stored.get("given", list(stored["params"])))
    heartbeat.start()  # from here every path below ends it (in `_settle`)
    if heavy:
        return _settle(run, heartbeat, lambda: _run_on_gpu(run, runner, worker))
    try:
        outputs = runner.run(run)
    except Exception as exc:
        return _settle(run, heartbeat, partial(_outcome_of, run, exc))
    # Stored and committed behind this task, while Celery fetches the next job (see settler).
    settler().submit(lambda: log.info(
        _settle(run, heartbeat, lambda: _store_and_commit(run, outputs))))
    return f"{job.id[:12]} ran; its {len(outputs)} outputs are being committed"


def _settle(run: JobRun, heartbeat: JobHeartbeat, finish: Callable[[], str]) -> str:
    """Finish an attempt (commit, fail or requeue it), end its heartbeat, wake its dependents."""
    try:
        outcome = _guarded(run, finish)
    finally:
        heartbeat.stop()
    for dependent in run.ctx.catalog.dependents(run.job.id):
        if dependent.state == JobState.QUEUED:
            dispatch_if_ready(run.ctx.catalog, dependent)
    return outcome


def _claim(ctx: ProcessContext, job: JobRecord, worker: str,
           first: JobState = JobState.RUNNING) -> tuple[JobRecord, int] | None:
    if not _may_take(ctx, job):
        return None
    # Until the lease queue explains the wait, say what it is (never a bare WAITING_GPU).
    reason = "waiting for the GPU lease" if first == JobState.WAITING_GPU else None
    attempt = ctx.catalog.claim(job.id, worker, os.getpid(), job.state, job.attempts, first, reason)
    return None if attempt is None else (job, attempt)


def _claim_turn(ctx: ProcessContext, delivered: JobRecord, worker: str
                ) -> tuple[JobRecord, int] | None:
    """On a GPU a delivery is a turn, not a ticket: it runs the fairest ready job of its kind,
    preferring the model this process has resident while the head of the line is young.

    Every ready job has a message of its own, so each delivery running exactly one job keeps
    the count right; a job whose runner died is taken over by its own delivery.
    """
    if delivered.state in (JobState.RUNNING, JobState.WAITING_GPU):
        if taken := _claim(ctx, delivered, worker, JobState.WAITING_GPU):
            return taken
        # Its runner is alive (this message was used by a swap): run the next ready job.
    resident = residency_of(ctx, worker).model_name
    for _ in range(8):  # another worker may claim our choice first; choose again
        choice = _choose(ctx, delivered, resident)
        if choice is None:
            return None
        if claimed := _claim(ctx, choice, worker, JobState.WAITING_GPU):
            if choice.id != delivered.id:
                log.info("delivery of %s runs %s (%s)", delivered.id[:12], choice.id[:12],
                         "model resident" if choice.model == resident else "fair order")
            return claimed
    return None


def _choose(ctx: ProcessContext, delivered: JobRecord, resident: str | None) -> JobRecord | None:
    head = ctx.catalog.next_ready(delivered.tag, [delivered.kind])
    if head is None or resident is None or head.model == resident:
        return head
    mine = ctx.catalog.next_ready(delivered.tag, [delivered.kind], resident)
    waited_s = (utcnow() - _aware(head.dispatched_at or head.created_at)).total_seconds()
    if mine is not None and mine.priority >= head.priority and \
            waited_s < ctx.settings.affinity_window_s:
        return mine
    return head


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _may_take(ctx: ProcessContext, job: JobRecord) -> bool:
    """QUEUED jobs, and active ones whose runner is gone: its process died on this host, or
    its heartbeat expired (or never came, well after the claim: see workers.heartbeat)."""
    if job.state.is_terminal:
        return False
    if job.state == JobState.QUEUED:
        return True
    if (job.worker or "").endswith(f"@{this_host()}") and not _pid_alive(job.worker_pid or 0):
        return True
    beat = job_heartbeat(ctx.settings, ctx.redis, job.id)
    if beat is None:
        started = job.started_at or job.created_at
        return (utcnow() - _aware(started)).total_seconds() > FIRST_BEAT_WITHIN_S
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


def _run_on_gpu(run: JobRun, runner: KindRunner, worker: str) -> str:
    """A heavy attempt from lease to commit; the lease, and whether its model stays
    resident, is dealt with last, whatever happened."""
    try:
        _take_gpu(run, runner, worker)
        return _store_and_commit(run, runner.run(run))
    except Exception as exc:
        return _outcome_of(run, exc)
    finally:
        if run.residency is not None and run.lease is not None:
            model = runner.model_of(run.params)
            run.residency.finish(lambda: run.ctx.catalog.next_ready(
                run.job.tag, [run.job.kind], model) is not None)


def _store_and_commit(run: JobRun, outputs: list[JobOutput]) -> str:
    records = _store_outputs(run.ctx, run.job, run.attempt, outputs)
    if run.residency is not None:
        run.residency.check()
    return _commit(run, records)


def _guarded(run: JobRun, step: Callable[[], str]) -> str:
    """Run a step of an attempt: what goes wrong is the job's outcome, not the task's."""
    try:
        return step()
    except Exception as exc:
        return _outcome_of(run, exc)


def _outcome_of(run: JobRun, exc: Exception) -> str:
    job = run.job
    if isinstance(exc, JobCancelled):
        return f"{job.id[:12]} cancelled while running; nothing committed"
    if isinstance(exc, LeaseLost):
        return _requeue(run, str(exc))
    if isinstance(exc, redis.RedisError):  # infrastructure, not the job: run it again later
        return _requeue(run, f"Redis connection lost ({exc})")
    if isinstance(exc, JobInputError | StorageError):
        return _fail(run, str(exc))
    log.error("job %s crashed", job.id, exc_info=exc)
    return _fail(run, f"internal error: {type(exc).__name__}: {exc}")


def _take_gpu(run: JobRun, runner: KindRunner, worker: str) -> None:
    ctx, job = run.ctx, run.job
    run.residency = residency_of(ctx, worker)
    needed, device = runner.vram_mb_of(run.params), ctx.settings.worker_device
    available = ctx.settings.devices[device].vram_mb
    if needed > available:
        raise JobInputError(f"needs {needed} MB of VRAM but {device} has {available} MB; "
                            "run it on a larger device (devices in farm.yaml)")

    def on_wait(reason: str) -> None:
        ctx.catalog.set_progress(job.id, 0.0, reason=f"waiting for GPU: {reason}")

    run.residency.api.ensure_token_above(ctx.catalog.fence(device))
    run.lease = run.residency.acquire(job, runner.model_of(run.params), run.cancelled, on_wait)
    ctx.catalog.raise_fence(run.lease.device, run.lease.token)
    if not ctx.catalog.transition(job.id, [JobState.WAITING_GPU], JobState.RUNNING,
                                  message=f"{run.lease.device} token {run.lease.token}",
                                  attempt=run.attempt, reason=None):
        raise JobCancelled(f"job {job.id[:12]} left WAITING_GPU before it got the device")


_residencies: dict[int, Residency] = {}


def residency_of(ctx: ProcessContext, worker: str) -> Residency:
    """This process's residency: one lease keeper and one resident model per process."""
    if ctx.pid not in _residencies:
        _residencies.clear()
        _residencies[ctx.pid] = Residency(ctx.settings, ctx.redis, f"{worker}:{ctx.pid}")
    return _residencies[ctx.pid]


def _commit(run: JobRun, records: list[ArtifactRecord]) -> str:
    ctx, job = run.ctx, run.job
    # The job's `input` edges to its dependencies are written by the commit itself.
    lineage = [LineageEdge(child_id=r.id, parent_id=job.id, relation="produced_by")
               for r in records]
    lineage += [LineageEdge(child_id=r.id, parent_id=parent, relation=relation)
                for r in records for parent, relation in run.sources]
    fence = (run.lease.device, run.lease.token) if run.lease is not None else None
    if not ctx.catalog.commit_result(job.id, run.attempt, records, lineage, fence):
        if fence is not None:  # a newer holder's token: this attempt's outputs are void
            return _requeue(run, f"commit refused: {fence[0]} token {fence[1]} is stale")
        return f"commit of {job.id[:12]} attempt {run.attempt} refused: cancelled or superseded"
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


def _fail(run: JobRun, error: str) -> str:
    run.ctx.catalog.transition(run.job.id, [JobState.RUNNING, JobState.WAITING_GPU],
                               JobState.FAILED, message="failed", attempt=run.attempt, error=error)
    return f"{run.job.id[:12]} failed: {error}"


def _requeue(run: JobRun, why: str) -> str:
    """This attempt lost its GPU lease: send the job again unless a newer attempt has it."""
    catalog = run.ctx.catalog
    if catalog.transition(run.job.id, [JobState.RUNNING, JobState.WAITING_GPU], JobState.QUEUED,
                          message=why, attempt=run.attempt, reason=f"re-queued: {why}"):
        try:
            send_job(catalog.get_job(run.job.id))
        except BrokerUnreachable:
            pass  # still QUEUED and dispatched in the catalog: the reconciler sends it later
    return f"{run.job.id[:12]} attempt {run.attempt} discarded: {why}"
