"""A light job's outputs are stored and committed behind its Celery task, on one thread per
worker process, while Celery acknowledges the message and hands the process its next one.

Why: with `task_acks_late` and a prefetch of one, Celery's main process and a pool process
take turns, so everything a task does after its job ran (blob fsyncs, the catalog commit,
the outputs view, waking dependents) adds to every job's turn. Written behind, it overlaps
the main process's share of the next turn.

Why it is safe: the farm recovers from the catalog, not from the Redis message. The job
stays RUNNING, with its heartbeat, until its commit; a process that dies first leaves it
RUNNING without a heartbeat, and the reconciler queues it again (`jobs.reconcile`).
One job settles at a time: a process's next delivery, and its exit, wait for the last one.
Jobs holding a GPU lease never settle here: their commit is fenced by the lease they hold.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class Settler:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle")
        self._last: Future[None] | None = None

    def submit(self, settle: Callable[[], None]) -> None:
        """Settle a job behind the caller; the previous one must have been waited for."""
        self._last = self._pool.submit(_logged, settle)

    def wait(self) -> None:
        """Return once the last job handed over is committed (or has failed)."""
        if self._last is not None:
            self._last.result()
            self._last = None


def _logged(settle: Callable[[], None]) -> None:
    """What a failed settling leaves undone, the reconciler finishes: a job left RUNNING
    without a heartbeat is queued again, and dependents of a finished job are sent on."""
    try:
        settle()
    except Exception:
        log.exception("settling a job failed")


_settlers: dict[int, Settler] = {}


def settler() -> Settler:
    """This process's settler; a forked child makes its own, as threads do not survive a fork."""
    pid = os.getpid()
    if pid not in _settlers:
        _settlers.clear()
        _settlers[pid] = Settler()
    return _settlers[pid]


def wait_for_settling() -> None:
    """Before this process exits or runs another job: its last job's commit is done."""
    if (current := _settlers.get(os.getpid())) is not None:
        current.wait()
