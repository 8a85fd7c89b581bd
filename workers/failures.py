"""A worker's failure policies beyond one attempt: the blocklist and the stall watchdog.

- **Blocklist**: a worker whose jobs of one kind fail `blocklist_after` times in a row stops
  taking that kind (a broken driver, a model folder gone bad on this machine) and says so,
  while other workers go on taking it. Its deliveries of that kind are handed back to the
  queue. `farm worker unblock` clears it; so does a restart (the worker's name changes).
- **Stall watchdog**: a job whose kind has `stall_s` and that has not moved (no progress, no
  note) for that long is stopped; one deaf to that is killed with its process (Celery's pool
  starts another), and the kind's retry policy decides whether it runs again.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

import redis
from billiard.process import current_process

from jobs.dispatch import send_job
from jobs.errors import BrokerUnreachable
from jobs.keys import FarmKeys
from storage.models import JobRecord, JobState
from workers.attempt import JobRun
from workers.context import ProcessContext

log = logging.getLogger(__name__)
_HAND_BACK_AFTER_S = 1.0  # a worker refusing a kind lets the others have a go first
_KILL_GRACE_S = 5.0  # a stopped job that has not ended by then is killed with its process
_blocked_seen: dict[str, tuple[float, dict[str, str]]] = {}


def refuses(ctx: ProcessContext, worker: str, kind: str) -> str | None:
    """Why this worker takes no more jobs of `kind` (it failed them in a row), or None.
    Looked up at most once a second per process."""
    if ctx.settings.blocklist_after <= 0:
        return None
    now = time.monotonic()
    seen = _blocked_seen.get(worker)
    if seen is None or now - seen[0] > 1.0:
        raw = ctx.redis.hgetall(FarmKeys(ctx.settings.namespace).blocked(worker))
        seen = (now, {k.decode(): v.decode() for k, v in raw.items()})  # type: ignore[union-attr]
        _blocked_seen[worker] = seen
    entry = seen[1].get(kind)
    return json.loads(entry)["why"] if entry else None


def hand_back(ctx: ProcessContext, delivered: JobRecord, why: str) -> str:
    """Give the delivery back to the queue for another worker, after a pause so that a farm
    where every worker refuses the kind does not spin. A delivery is a turn: its message is
    sent again for whichever job of its kind is ready (the one it names may have run)."""
    threading.Event().wait(_HAND_BACK_AFTER_S)
    job = ctx.catalog.get_job(delivered.id)
    if job.state != JobState.QUEUED or job.dispatched_at is None or job.hold is not None:
        job = ctx.catalog.next_ready(delivered.tag, [delivered.kind])  # type: ignore[assignment]
    if job is not None:
        try:
            send_job(ctx.settings, job)
        except BrokerUnreachable:
            pass  # the reconciler sends it: it is dispatched and no queue holds it
    return f"delivery of {delivered.id[:12]} handed back: {why}"


# One count per job, not per attempt: a job retried on this worker fails it once.
_COUNT_JOB = """
if redis.call('HGET', KEYS[1], 'last') == ARGV[1] then
  return tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return count
"""


def count_outcome(run: JobRun, worker: str) -> None:
    """Count a failed job toward this worker's blocklist (once, however many of its attempts
    fail here); a success ends the count. Cancels, pauses and lost leases count neither
    way, nor failures of the job's own inputs."""
    limit = run.ctx.settings.blocklist_after
    if limit <= 0:
        return
    keys = FarmKeys(run.ctx.settings.namespace)
    counter = keys.failures(worker, run.kind.name)
    try:
        if not run.failed:
            if run.succeeded:
                run.ctx.redis.delete(counter)
            return
        count = int(run.ctx.redis.eval(  # type: ignore[arg-type]
            _COUNT_JOB, 1, counter, run.job.id, 7 * 24 * 3600))
        if count < limit:
            return
        error = run.ctx.catalog.get_job(run.job.id)
        why = (f"worker {worker} stopped taking {run.kind.name} jobs after {count} failed "
               f"jobs in a row (last: {error.last_error or error.error}); "
               f"`farm worker unblock {worker}` lets it take them again")
        if run.ctx.redis.hset(keys.blocked(worker), run.kind.name,
                              json.dumps({"why": why, "at": time.time(), "count": count})):
            log.warning(why)
        _blocked_seen.pop(worker, None)
    except (redis.RedisError, OSError) as exc:
        log.warning("could not count the outcome of %s for the blocklist: %s",
                    run.job.id[:12], exc)


def stall_watchdog(run: JobRun) -> Callable[[], None] | None:
    """For a kind with `stall_s`: a look (called by the heartbeat ten times a second) that
    stops the job once it has not moved for that long."""
    stall_s = run.ctx.settings.policy(run.kind.name).stall_s
    if stall_s is None:
        return None

    def look() -> None:
        since = run.moving_since
        if run.stalled is not None or since is None or time.monotonic() - since < stall_s:
            return
        run.stalled = f"stalled: no progress for {stall_s:g} s (stall_s of {run.kind.name})"
        log.error("job %s %s; stopping it", run.job.id[:12], run.stalled)
        run.cancelled.set()
        threading.Thread(target=_kill_if_deaf, args=(run,), name="stall", daemon=True).start()

    return look


def _kill_if_deaf(run: JobRun) -> None:
    """A stalled job that ignores the stop (stuck in native code) is failed here, under its
    policy, and its process killed: nothing else can take the thread back."""
    if run.ended.wait(_KILL_GRACE_S):
        return
    from workers.commit import fail

    try:
        log.error(fail(run, run.stalled or "stalled"))
    except Exception as exc:  # the catalog is away: the reconciler re-queues the job
        log.error("job %s: its stall could not be written: %s", run.job.id[:12], exc)
    if not current_process().name.startswith("ForkPoolWorker"):
        # The solo pool runs jobs in the worker itself: killing it would end the worker.
        log.error("job %s did not stop, and the solo pool cannot kill it alone: restart this "
                  "worker (or run it with the prefork pool)", run.job.id[:12])
        return
    log.error("job %s did not stop; killing process %d", run.job.id[:12], os.getpid())
    os.kill(os.getpid(), signal.SIGKILL)
