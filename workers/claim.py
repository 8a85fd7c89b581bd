"""Taking a delivery: which job it runs, whether that may start now, and claiming it.

A delivery is a turn, not a ticket: it runs the fairest ready job of its kind (priority, then
place in line, which `farm priority` and `farm move` change), on a GPU preferring the model
this process has resident while the head of the line is young.
"""

from __future__ import annotations

import logging
import os

from jobs.holds import Hold, pause_seen, why_held
from jobs.kinds import heavy_job
from jobs.presence import job_heartbeat
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


def take_turn(ctx: ProcessContext, delivered: JobRecord, worker: str,
              resident: str | None) -> Claimed | None:
    """A delivery is a turn, not a ticket: it runs the fairest ready job of its kind. Every
    ready job has a message of its own, so each delivery running at most one job keeps the
    count right; a job whose runner died is taken over by its own delivery. Ready jobs that
    may not start now (paused, quiet hours, disk) are held on the way (see jobs.holds)."""
    if delivered.state in (JobState.RUNNING, JobState.WAITING_GPU) and held(ctx, delivered) is None:
        if taken := claim(ctx, delivered, worker, first_state(ctx, delivered)):
            return taken
        # Its runner is alive (this message was used by a swap): run the next ready job.
    for _ in range(8):  # another worker may claim our choice first; choose again
        choice = _choose(ctx, delivered, resident)
        if choice is None:
            return None
        if claimed := claim(ctx, choice, worker, first_state(ctx, choice)):
            if choice.id != delivered.id:
                log.info("delivery of %s runs %s (%s)", delivered.id[:12], choice.id[:12],
                         "model resident" if choice.model == resident else "fair order")
            return claimed
    return None


def first_state(ctx: ProcessContext, job: JobRecord) -> JobState:
    """A heavy job waits for its GPU first; a light one runs at once."""
    return JobState.WAITING_GPU if heavy_job(job, ctx.settings) else JobState.RUNNING


def held(ctx: ProcessContext, job: JobRecord) -> Hold | None:
    """What keeps this job from starting now, by the same rule the release pass lets it go."""
    return why_held(ctx.settings, pause_seen(ctx.settings, ctx.redis, ctx.catalog), job.tag,
                    heavy_job(job, ctx.settings))


def _next_free(ctx: ProcessContext, delivered: JobRecord, model: str | None = None
               ) -> JobRecord | None:
    """The fairest ready job of the delivered kind that may start now; those that may not
    are held as they are met."""
    batch = 1  # the head is almost always free to start: one row, then more once some are held
    for _ in range(16):
        ready = ctx.catalog.ready_jobs(delivered.tag, [delivered.kind], model, limit=batch)
        batch = 8
        if not ready:
            return None
        for job in ready:
            if (hold := held(ctx, job)) is None:
                return job
            ctx.catalog.hold_job(job.id, *hold)
    return None


def _choose(ctx: ProcessContext, delivered: JobRecord, resident: str | None) -> JobRecord | None:
    head = _next_free(ctx, delivered)
    if head is None or resident is None or head.model == resident:
        return head
    mine = _next_free(ctx, delivered, resident)
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
    # A pid means something only on its own machine; one FARM_HOST is one machine (a second
    # machine claiming it is refused at start, see jobs.hosts).
    host = ctx.settings.host
    if (job.worker or "").endswith(f"@{host}") and not pid_alive(job.worker_pid or 0):
        return True
    beat = job_heartbeat(ctx.settings, ctx.redis, job.id)
    if beat is None:
        return seconds_since(job.started_at or job.created_at) > FIRST_BEAT_WITHIN_S
    return beat.get("host") == host and not pid_alive(int(beat.get("pid", 0)))


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
