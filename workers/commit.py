"""Ending an attempt: its outputs stored and committed once, or the job failed or re-queued.

What goes wrong decides the outcome: the job's own inputs fail it, and so does a store that
cannot take its outputs (a full disk: it says so, and `farm retry` runs it once there is room);
a lost GPU lease or Redis sends it round again; a busy or unreachable catalog leaves it to the
reconciler (a job is never failed for the catalog's trouble).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import redis

from jobs.dispatch import send_job
from jobs.errors import BrokerUnreachable
from jobs.keys import FarmKeys
from storage.errors import CatalogDamaged, CatalogUnavailable, StorageError, StoreWriteFailed
from storage.models import ArtifactRecord, JobState, LineageEdge, utcnow
from storage.outputs import link_output
from workers.attempt import JobOutput, JobRun
from workers.errors import AttemptFailed, JobCancelled, JobHeld, JobInputError, LeaseLost

log = logging.getLogger(__name__)


def store_and_commit(run: JobRun, outputs: list[JobOutput]) -> str:
    records = _store_outputs(run, outputs)
    if run.residency is not None:
        run.residency.check()
    return _commit(run, records)


def outcome_of(run: JobRun, exc: Exception) -> str:
    job = run.job
    if isinstance(exc, JobHeld):
        return put_back(run, exc.hold, exc.reason)
    if run.yielded.is_set():  # `farm pause --now`: what it was doing is dropped, not failed
        return put_back(run, "pause", "paused by the user; `farm resume` lets it go on")
    if run.stalled is not None:
        return fail(run, run.stalled)
    if isinstance(exc, JobCancelled):
        run.ended_badly("cancelled")
        return f"{job.id[:12]} cancelled while running; nothing committed"
    if isinstance(exc, LeaseLost):
        return requeue(run, str(exc))
    if isinstance(exc, redis.RedisError):  # infrastructure, not the job: run it again later
        return requeue(run, f"Redis connection lost ({exc})")
    if isinstance(exc, CatalogUnavailable | CatalogDamaged):
        # Nothing can be written now; without its heartbeat the job is queued again by the
        # reconciler once the catalog answers.
        log.error("job %s: %s; left for the reconciler to queue again", job.id, exc)
        return f"{job.id[:12]} attempt {run.attempt} left to the reconciler: {exc}"
    if isinstance(exc, JobInputError):
        return fail(run, str(exc), retry=False)
    if isinstance(exc, AttemptFailed | StorageError):
        return fail(run, str(exc))
    log.error("job %s crashed", job.id, exc_info=exc)
    return fail(run, f"internal error: {type(exc).__name__}: {exc}")


def _store_outputs(run: JobRun, outputs: list[JobOutput]) -> list[ArtifactRecord]:
    records = []
    for output in outputs:
        blob = run.ctx.store.put_bytes(output.data)
        records.append(ArtifactRecord(
            id=uuid.uuid4().hex, job_id=run.job.id, attempt=run.attempt, name=output.name,
            sha256=blob.sha256, media_type=output.media_type, bytes=blob.size,
        ))
    return records


def _commit(run: JobRun, records: list[ArtifactRecord]) -> str:
    ctx, job = run.ctx, run.job
    # The job's `input` edges to its dependencies are written by the commit itself.
    lineage = [LineageEdge(child_id=r.id, parent_id=job.id, relation="produced_by")
               for r in records]
    lineage += [LineageEdge(child_id=r.id, parent_id=parent, relation=relation)
                for r in records for parent, relation in run.sources]
    fence = (run.lease.device, run.lease.token) if run.lease is not None else None
    if not ctx.catalog.commit_result(job.id, run.attempt, records, lineage, fence):
        now = ctx.catalog.get_job(job.id)
        if now.state == JobState.SUCCEEDED and now.attempts == run.attempt:
            # Its commit landed, though the answer was lost on the way (a reset connection),
            # and the retry found it done: what the catalog holds is what gets linked.
            records = ctx.catalog.artifacts(job.id)
        elif fence is not None:  # a newer holder's token: this attempt's outputs are void
            return requeue(run, f"commit refused: {fence[0]} token {fence[1]} is stale")
        else:
            return f"commit of {job.id[:12]} attempt {run.attempt} refused: cancelled or superseded"
    run.succeeded = True
    try:
        for record in records:
            link_output(ctx.settings.outputs_dir, job.project, job.id, record.name,
                        ctx.store.path_for(record.sha256))
    except StoreWriteFailed as exc:  # committed already: the view is a convenience
        log.warning("job %s succeeded; its outputs view was not written: %s", job.id[:12], exc)
        return f"{job.id[:12]} succeeded with {len(records)} artifacts; no outputs view: {exc}"
    return f"{job.id[:12]} succeeded with {len(records)} artifacts"


MAX_BACKOFF_S = 86400.0  # a retry waits at most a day, however often it doubled


def fail(run: JobRun, error: str, retry: bool = True) -> str:
    """The attempt failed: the job waits for a retry if its kind's policy allows one (after
    its backoff, doubling each time, at most a day), else it is FAILED for good with this
    error. Retries are counted by the job's failed attempts since it was submitted or
    `farm retry`-ed (`failures`), not by its attempts, which re-queues count too."""
    policy, job = run.ctx.settings.policy(run.kind.name), run.job
    same = (job.error_count or 0) + 1 if job.last_error == error else 1
    failures = (job.failures or 0) + 1
    if retry and failures <= policy.retries and same < policy.same_error_limit:
        delay_s = min(policy.backoff_s * 2 ** min(failures - 1, 30), MAX_BACKOFF_S)
        due = utcnow() + timedelta(seconds=delay_s)
        reason = (f"retry {failures} of {policy.retries} at "
                  f"{due.astimezone().strftime('%H:%M:%S')} after: {error}")
        if run.ctx.catalog.transition(
                job.id, [JobState.RUNNING, JobState.WAITING_GPU], JobState.QUEUED,
                message=f"failed, retried in {delay_s:g} s: {error}", attempt=run.attempt,
                hold="backoff", not_before=due, dispatched_at=None, reason=reason,
                last_error=error, error_count=same, failures=failures):
            run.failed = True
            return f"{job.id[:12]} attempt {run.attempt} failed; {reason}"
    if same >= policy.same_error_limit and same > 1:
        error = f"{error} (the same error {same} times in a row)"
    run.ended_badly(error)
    if run.ctx.catalog.transition(job.id, [JobState.RUNNING, JobState.WAITING_GPU],
                                  JobState.FAILED, message="failed", attempt=run.attempt,
                                  error=error, last_error=error, error_count=same,
                                  failures=failures):
        run.failed = retry  # the worker's blocklist counts failures that may be the machine's
    return f"{job.id[:12]} failed: {error}"


def put_back(run: JobRun, hold: str, reason: str) -> str:
    """Back in line, held, this attempt not counted: the pause or the hours stopped it, not
    the job. The release pass sends it again once nothing holds it."""
    if run.ctx.catalog.transition(
            run.job.id, [JobState.RUNNING, JobState.WAITING_GPU], JobState.QUEUED,
            message=f"put back in line: {reason}", attempt=run.attempt,
            attempts=run.attempt - 1, hold=hold, dispatched_at=None, reason=reason,
            started_at=None):
        # The next attempt takes this number again: it must not hear this one's `--now`.
        try:
            run.ctx.redis.delete(FarmKeys(run.ctx.settings.namespace).yield_attempt(
                run.job.id, run.attempt))
        except redis.RedisError as exc:  # it expires in a day; the next attempt may yield once
            log.warning("job %s: its pause key stays: %s", run.job.id[:12], exc)
        return f"{run.job.id[:12]} attempt {run.attempt} put back in line: {reason}"
    return f"{run.job.id[:12]} attempt {run.attempt} ended meanwhile (cancelled?)"


def requeue(run: JobRun, why: str) -> str:
    """Send the job again unless a newer attempt has it (this one lost its lease or Redis)."""
    catalog = run.ctx.catalog
    if catalog.transition(run.job.id, [JobState.RUNNING, JobState.WAITING_GPU], JobState.QUEUED,
                          message=why, attempt=run.attempt, reason=f"re-queued: {why}"):
        try:
            send_job(run.ctx.settings, catalog.get_job(run.job.id))
        except BrokerUnreachable:
            pass  # still QUEUED and dispatched in the catalog: the reconciler sends it later
    return f"{run.job.id[:12]} attempt {run.attempt} discarded: {why}"
