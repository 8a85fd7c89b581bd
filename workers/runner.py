"""Run one delivery of a job: claim it, take the GPU if its kind needs one, run, store, commit once.

Top to bottom: find the delivered job (or set the message aside), claim an attempt (a turn on
the GPU for heavy kinds), start its heartbeat, run the kind's handler, then settle: commit,
fail or re-queue it, end the heartbeat and send its dependents on. A light job is settled
behind its Celery task (workers.settler); a heavy one inside it, under its lease.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial

from jobs.config import FarmSettings
from jobs.dead_letters import set_aside_delivery
from jobs.dispatch import job_ended
from jobs.kinds import Kind
from storage.errors import UnknownJob
from storage.models import JobRecord, JobState
from workers.attempt import Handler, JobRun
from workers.claim import held, take_turn
from workers.commit import outcome_of, store_and_commit
from workers.context import ProcessContext, process_context
from workers.errors import JobCancelled, JobInputError
from workers.failures import count_outcome, hand_back, refuses, stall_watchdog
from workers.heartbeat import JobHeartbeat
from workers.residency import Residency
from workers.settler import settler, wait_for_settling
from workers.task_events import TaskEvents

log = logging.getLogger(__name__)


def run_delivery(job_id: str, kind: Kind, handler: Handler, worker: str,
                 settings: FarmSettings | None = None, events: TaskEvents | None = None) -> str:
    """Handle one delivery of a job's message; returns what happened, for the log. `events`
    tells Flower the farm's states of it (see workers.task_events)."""
    ctx = process_context(settings)
    wait_for_settling()  # this process's previous job is committed before the next starts
    delivered = _delivered_job(ctx, job_id, kind)
    if delivered is None:
        return f"delivery of {job_id[:40]!r} set aside: it names no {kind.name} job"
    if (why := refuses(ctx, worker, kind.name)) is not None:
        return hand_back(ctx, delivered, why)
    resident = _residencies[ctx.pid].model_name if ctx.pid in _residencies else None
    claimed = take_turn(ctx, delivered, worker, resident)
    if claimed is None:
        return f"nothing to run for delivery of {job_id[:12]} ({delivered.state})"
    job, attempt = claimed
    stored = json.loads(job.params_json)
    heavy = kind.gpu(stored["params"], ctx.settings)
    heartbeat = JobHeartbeat(ctx.settings, ctx.redis, job.id, worker, attempt=attempt,
                             on_refresh=events.again if events is not None else None)
    run = JobRun(job, kind, stored["params"], attempt, ctx, heartbeat.cancelled,
                 given=stored.get("given", list(stored["params"])), events=events,
                 yielded=heartbeat.yielded)
    heartbeat.watch(stall_watchdog(run))
    heartbeat.start()  # from here every path below ends it (in `_settle`)
    if heavy:
        return _settle(run, heartbeat, worker, lambda: _run_on_gpu(run, handler, worker))
    if events is not None:  # said to Flower only if it is still running a while from now
        events.note("RUNNING", f"running on {worker}")
    run.moving_since = time.monotonic()
    try:
        outputs = handler(run)
    except Exception as exc:
        return _settle(run, heartbeat, worker, partial(outcome_of, run, exc))
    # Stored and committed behind this task, while Celery fetches the next job (see settler).
    settler().submit(lambda: log.info(
        _settle(run, heartbeat, worker, lambda: store_and_commit(run, outputs))))
    return f"{job.id[:12]} ran; its {len(outputs)} outputs are being committed"


def _delivered_job(ctx: ProcessContext, job_id: str, kind: Kind) -> JobRecord | None:
    """The job a message names, or None once a message naming no such job is set aside."""
    try:
        job = ctx.catalog.get_job(job_id) if isinstance(job_id, str) else None
    except UnknownJob:
        job = None
    if job is not None and job.kind == kind.name and len(job_id) == len(job.id):
        return job
    why = "no such job in the catalog" if job is None else f"job of kind {job.kind}"
    set_aside_delivery(ctx.settings, ctx.redis, f"task farm.{kind.name}", repr(job_id)[:200], why)
    return None


def _settle(run: JobRun, heartbeat: JobHeartbeat, worker: str, finish: Callable[[], str]) -> str:
    """Finish an attempt (commit, fail or requeue it), end its heartbeat, wake its dependents,
    and count it toward the worker's blocklist."""
    try:
        outcome = _guarded(run, finish)
    finally:
        run.ended.set()
        heartbeat.stop()
    count_outcome(run, worker)
    try:
        job_ended(run.ctx.settings, run.ctx.catalog, run.job.id)
    except Exception as exc:  # the reconciler sends them on later
        log.warning("job %s: its dependents wait for the reconciler: %s", run.job.id[:12], exc)
    return outcome


def _guarded(run: JobRun, step: Callable[[], str]) -> str:
    """Run a step of an attempt: what goes wrong is the job's outcome, not the task's."""
    try:
        return step()
    except Exception as exc:
        try:
            return outcome_of(run, exc)
        except Exception as again:  # the catalog is gone too: the reconciler takes it from here
            log.error("job %s: its outcome could not be written: %s", run.job.id[:12], again)
            return f"{run.job.id[:12]} attempt {run.attempt} left to the reconciler"


def _run_on_gpu(run: JobRun, handler: Handler, worker: str) -> str:
    """A heavy attempt from lease to commit; the lease, and whether its model stays
    resident, is dealt with last, whatever happened."""
    try:
        _take_gpu(run, worker)
        return store_and_commit(run, handler(run))
    except Exception as exc:
        return outcome_of(run, exc)
    finally:
        if run.residency is not None and run.lease is not None:
            model = run.model
            run.residency.finish(lambda: run.ctx.catalog.next_ready(
                run.job.tag, [run.job.kind], model) is not None)


def _take_gpu(run: JobRun, worker: str) -> None:
    ctx, job = run.ctx, run.job
    run.residency = residency_of(ctx, worker)
    measured = (ctx.catalog.measured_vram_mb(run.model)
                if run.model and run.kind.measures_vram else None)
    needed = run.kind.vram_needed(run.params, ctx.settings, measured)
    device = ctx.settings.lease_device  # the lease and the fence are the host's own
    available = ctx.settings.devices[ctx.settings.worker_device].vram_mb
    if needed > available:
        raise JobInputError(f"needs {needed} MB of VRAM but {device} has {available} MB; "
                            "run it on a larger device (devices in farm.yaml)")

    run.residency.api.ensure_token_above(ctx.catalog.fence(device))
    run.lease = run.residency.acquire(job, run.model, run.cancelled, run.waiting,
                                      partial(held, ctx, job))
    ctx.catalog.raise_fence(run.lease.device, run.lease.token)
    if not ctx.catalog.transition(job.id, [JobState.WAITING_GPU], JobState.RUNNING,
                                  message=f"{run.lease.device} token {run.lease.token}",
                                  attempt=run.attempt, reason=None):
        raise JobCancelled(f"job {job.id[:12]} left WAITING_GPU before it got the device")
    run.running(f"on {run.lease.device} (token {run.lease.token})")


_residencies: dict[int, Residency] = {}


def residency_of(ctx: ProcessContext, worker: str) -> Residency:
    """This process's residency: one lease keeper and one resident model per process."""
    if ctx.pid not in _residencies:
        _residencies.clear()
        _residencies[ctx.pid] = Residency(ctx.settings, ctx.redis, f"{worker}:{ctx.pid}")
    return _residencies[ctx.pid]
