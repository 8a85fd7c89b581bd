"""The model a worker process keeps on its GPU, and the lease that allows it to keep it.

A model is only ever in VRAM while its process holds the device's lease. Between jobs of
the same model the process keeps the lease, marked idle; as soon as a job from another
worker waits for the device, or the model has been idle too long, it unloads and lets go.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from jobs.config import FarmSettings
from jobs.holds import pause_seen, paused_at
from storage.models import JobRecord
from storage.states import as_utc
from workers.errors import JobCancelled, JobHeld, LeaseLost
from workers.gpu import GpuLease, Lease
from workers.ticker import Duty, ticker

log = logging.getLogger(__name__)
_IDLE_CHECK_S = 0.05
_HOLD_FOR_NEXT_S = 2.0  # how long an idle holder waits for its own next delivery


class Residency:
    """One per worker process: its lease on the device and the model loaded under it."""

    def __init__(self, settings: FarmSettings, client: redis.Redis, worker: str) -> None:
        self.api = GpuLease(client, settings.namespace, settings.lease_device,
                            settings.lease_ttl_s, settings.affinity_window_s)
        self.worker = worker
        self.renew_every_s = settings.lease_ttl_s / 3
        self.idle_unload_s = settings.idle_unload_s
        self.lock = threading.RLock()
        self.lease: Lease | None = None
        self.busy = False
        self.lost = threading.Event()
        self.model_name: str | None = None
        self.model: Any = None
        self._unload_model: Callable[[Any], None] | None = None
        self._idle_since = 0.0
        self._hold_until = 0.0
        self._keeper: Duty | None = None
        self._last_renew = 0.0
        self.settings, self.client = settings, client
        self.tag: str | None = None  # the queue of the job that took the lease last

    # taking the device ------------------------------------------------------------

    def acquire(self, job: JobRecord, model: str | None, cancelled: threading.Event,
                on_wait: Callable[[str], None],
                held: Callable[[], tuple[str, str] | None] = lambda: None) -> Lease:
        """Wait in line (fairly, explained through `on_wait`) until the device is ours; a job
        that may no longer start (`held`: the pause, quiet hours) leaves the line."""
        place_ms = int((job.rank or as_utc(job.created_at).timestamp()) * 1000)
        info = {"worker": self.worker, "model": model, "kind": job.kind}
        said = ""
        self.tag = job.tag
        while True:
            if (hold := held()) is not None:
                self.api.leave(job.id)
                raise JobHeld(*hold)
            self.api.enqueue(job.id, job.priority, place_ms, info)
            lease = self.api.try_acquire(job.id, self.worker, _pid(), model, job.kind)
            if lease is not None:
                break
            if cancelled.is_set():
                self.api.leave(job.id)
                raise JobCancelled(f"job {job.id[:12]} cancelled while waiting for the GPU")
            if (reason := self.api.explain(job.id)) != said:
                on_wait(reason)
                said = reason
            self.api.wait_for_wake(job.id, 0.25)
        with self.lock:
            self.lease, self.busy = lease, True  # an idle lease of ours became this one
            self.lost.clear()
        self._ensure_keeper()
        return lease

    def model_for(self, name: str, load: Callable[[], Any], unload: Callable[[Any], None]) -> Any:
        """The resident model if it is `name`; otherwise unload the old one, then load this."""
        with self.lock:
            if self.model_name == name and self.model is not None:
                return self.model
            self._unload()
        model = load()
        with self.lock:
            self.model, self.model_name, self._unload_model = model, name, unload
        return model

    def drop_model(self) -> None:
        """Unload the resident model now (after it ran out of device memory, say)."""
        with self.lock:
            self._unload()

    def check(self) -> None:
        """Raise LeaseLost if the lease expired or passed on while the job ran."""
        if self.lost.is_set():
            raise LeaseLost(f"lost the lease on {self.api.device}; this result may not be committed")

    # giving it back ---------------------------------------------------------------

    def finish(self, more_for_model: Callable[[], bool] = lambda: False) -> None:
        """The job is over: stay resident on an idle lease unless someone else waits.

        When others wait but jobs for the resident model are ready, hold the idle lease for
        a moment: this process's next delivery takes one of them (the lease's aging window
        decides whether it may go first), rather than every job of a busy farm paying a
        model switch.
        """
        # Asked before the lock is taken: the catalog may be slow, and the keeper (on the
        # process's ticker, beside the heartbeats) must not wait on the lock meanwhile.
        others = self._other_waiters() if self.lease is not None else []
        more = bool(others) and self.model is not None and self._young(others) and more_for_model()
        with self.lock:
            self.busy = False
            self._idle_since = time.monotonic()
            self._hold_until = 0.0
            if self.lease is None:
                self._unload()
                return
            if others and not more:
                self._give_up()
                return
            if others:
                self._hold_until = self._idle_since + _HOLD_FOR_NEXT_S
            try:
                self.api.renew(self.lease, idle=True)
            except LeaseLost:
                self._drop_lost()

    def _paused(self) -> bool:
        """The user paused this queue: the model goes, the device is free for recording."""
        return self.tag is not None and \
            paused_at(pause_seen(self.settings, self.client), self.tag) is not None

    def _young(self, waiters: list[dict[str, Any]]) -> bool:
        """Whether every one of them has waited less than the aging window, so that this
        process's next job of its resident model may still go first."""
        now_ms = time.time() * 1000
        return all(now_ms - float(w.get("since_ms", 0)) < self.api.window_ms for w in waiters)

    def _other_waiters(self) -> list[dict[str, Any]]:
        return [w for w in self.api.waiters() if w.get("worker") != self.worker]

    def _others_waiting(self) -> bool:
        return bool(self._other_waiters())

    def _give_up(self) -> None:
        self._unload()
        if self.lease is not None:
            self.api.release(self.lease)
            self.lease = None

    def _drop_lost(self) -> None:
        self.lost.set()
        self.lease = None
        self._unload()

    def _unload(self) -> None:
        if self.model is not None and self._unload_model is not None:
            try:
                self._unload_model(self.model)
            except Exception:  # an unload failure must not keep the device
                log.exception("unloading %s failed", self.model_name)
        self.model, self.model_name, self._unload_model = None, None, None

    # the keeper (a duty on the process's ticker while a lease is held) ----------------

    def _ensure_keeper(self) -> None:
        with self.lock:
            if self._keeper is None:
                self._last_renew = time.monotonic()
                self._keeper = ticker().every(_IDLE_CHECK_S, self._tick, "GPU lease keeper")

    def _tick(self) -> None:
        if not self.lock.acquire(blocking=False):
            return  # a job is taking or giving up the device: look again next tick
        try:
            self._keep()
        finally:
            self.lock.release()

    def _keep(self) -> None:
        if self.lease is None:
            if self._keeper is not None and not self.busy:
                ticker().cancel(self._keeper)
                self._keeper = None
            return
        now = time.monotonic()
        if not self.busy and ((now > self._hold_until and self._others_waiting())
                              or now - self._idle_since > self.idle_unload_s
                              or self._paused()):
            self._give_up()
            return
        if now - self._last_renew < self.renew_every_s:
            return
        try:
            self.api.renew(self.lease)
        except LeaseLost:
            log.error("lease on %s lost (token %s)", self.api.device, self.lease.token)
            if self.busy:
                self.lost.set()
                self.lease = None
            else:
                self._drop_lost()
        self._last_renew = now


def _pid() -> int:
    return os.getpid()
