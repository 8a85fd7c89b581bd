"""One thread per worker process for its periodic duties, each guarded the same way.

The duties are small and frequent: the worker's announcement, its running jobs' heartbeats
and cancel checks, the GPU lease keeper, the idle unload of a CPU model. On one thread they
are easy to reason about (no two of them race each other), and no duty can die of an
error: a failing one is logged (once, then once a minute while it keeps failing), backs
off, and runs again; when it recovers, it says so. With no duty due, the thread sleeps.

The reconciler is not a duty here: one pass over a large catalog can take seconds, and the
announcement that tells the farm this worker lives must not wait for it (workers.announce).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
REPEAT_WARNING_S = 60.0


@dataclass(eq=False)
class Duty:
    name: str
    interval_s: float
    run: Callable[[], None]
    due: float = field(default_factory=time.monotonic)
    failures: int = 0
    warned_at: float = 0.0


class Ticker:
    def __init__(self) -> None:
        self.duties: list[Duty] = []
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="ticker", daemon=True)
        self.thread.start()

    def every(self, interval_s: float, run: Callable[[], None], name: str,
              first_in_s: float | None = None) -> Duty:
        """Run `run` every `interval_s`, the first time after `first_in_s` (default: one
        interval)."""
        duty = Duty(name, interval_s, run,
                    time.monotonic() + (interval_s if first_in_s is None else first_in_s))
        with self.lock:
            self.duties.append(duty)
        self.changed.set()
        return duty

    def cancel(self, duty: Duty) -> None:
        with self.lock:
            if duty in self.duties:
                self.duties.remove(duty)

    def _loop(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                due = [d for d in self.duties if d.due <= now]
                wait = min((d.due for d in self.duties), default=now + 3600) - now
            for duty in due:
                self._run(duty)
            if not due:
                self.changed.wait(max(0.0, wait))
                self.changed.clear()

    def _run(self, duty: Duty) -> None:
        try:
            duty.run()
        except Exception as exc:  # a duty's error is logged and retried, never fatal
            self._failed(duty, exc)
            return
        if duty.failures:
            log.warning("%s works again after %d failures", duty.name, duty.failures)
            duty.failures = 0
        duty.due = time.monotonic() + duty.interval_s

    @staticmethod
    def _failed(duty: Duty, exc: Exception) -> None:
        duty.failures += 1
        now = time.monotonic()
        if duty.failures == 1 or now - duty.warned_at > REPEAT_WARNING_S:
            log.warning("%s failed (%s: %s); trying again", duty.name, type(exc).__name__, exc)
            duty.warned_at = now
        backoff = min(duty.interval_s * 2 ** duty.failures, max(duty.interval_s, MAX_BACKOFF_S))
        duty.due = now + backoff


_tickers: dict[int, Ticker] = {}


def ticker() -> Ticker:
    """This process's ticker; a forked child starts its own (threads do not survive a fork)."""
    pid = os.getpid()
    if pid not in _tickers:
        _tickers.clear()
        _tickers[pid] = Ticker()
    return _tickers[pid]
