"""Taking a delivery: whether its job may be run here, and claiming it in the catalog.

A light job's delivery runs that job. On a GPU a delivery is a turn, not a ticket: it runs the
fairest ready job of its kind, preferring the model this process has resident while the head
of the line is young.
"""

from __future__ import annotations

import logging
import os

from jobs.presence import job_heartbeat, this_host
from storage.models import JobRecord, JobState
from storage.states import seconds_since
from workers.context import ProcessContext
from workers.heartbeat import FIRST_BEAT_WITHIN_S

log = logging.getLogger(__name__)
Claimed = tuple[JobRecord, int]  # the job and the number of the attempt this delivery runs


def claim(ctx: ProcessContext, job: JobRecord, worker: str,
          first: JobState = JobState.RUNNING) -> Claimed | None:
    if not may_take(ctx, job):
        return None
    # Until the lease queue explains the wait, say what it is (never a bare WAITING_GPU).
    reason = "waiting for the GPU lease" if first == JobState.WAITING_GPU else None
    attempt = ctx.catalog.claim(job.id, worker, os.getpid(), job.state, job.attempts, first, reason)
    return None if attempt is None else (job, attempt)


def claim_turn(ctx: ProcessContext, delivered: JobRecord, worker: str,
               resident: str | None) -> Claimed | None:
    """Every ready job has a message of its own, so each delivery running exactly one job keeps
    the count right; a job whose runner died is taken over by its own delivery."""
    if delivered.state in (JobState.RUNNING, JobState.WAITING_GPU):
        if taken := claim(ctx, delivered, worker, JobState.WAITING_GPU):
            return taken
        # Its runner is alive (this message was used by a swap): run the next ready job.
    for _ in range(8):  # another worker may claim our choice first; choose again
        choice = _choose(ctx, delivered, resident)
        if choice is None:
            return None
        if claimed := claim(ctx, choice, worker, JobState.WAITING_GPU):
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
    waited_s = seconds_since(head.dispatched_at or head.created_at)
    if mine is not None and mine.priority >= head.priority and \
            waited_s < ctx.settings.affinity_window_s:
        return mine
    return head


def may_take(ctx: ProcessContext, job: JobRecord) -> bool:
    """QUEUED jobs, and active ones whose runner is gone: its process died on this host, or
    its heartbeat expired (or never came, well after the claim: see workers.heartbeat)."""
    if job.state.is_terminal:
        return False
    if job.state == JobState.QUEUED:
        return True
    if (job.worker or "").endswith(f"@{this_host()}") and not pid_alive(job.worker_pid or 0):
        return True
    beat = job_heartbeat(ctx.settings, ctx.redis, job.id)
    if beat is None:
        return seconds_since(job.started_at or job.created_at) > FIRST_BEAT_WITHIN_S
    return beat.get("host") == this_host() and not pid_alive(int(beat.get("pid", 0)))


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
