"""A running job's heartbeat in Redis, and its ear for `farm cancel` and `farm pause --now`.

The heartbeat lets a duplicate delivery tell a live run from a dead one; the cancel
check turns a `farm cancel` into an event the running job sees within a fraction of a second.
One duty on the process's ticker beats for every job the process is running, and is off the
ticker while it runs none. A job's first beat is that duty's next look, within
FIRST_BEAT_WITHIN_S of its claim, so a job shorter than that costs no Redis round trip at
all; whoever judges a running job by its heartbeat gives a fresh claim that long (see
`workers.claim.may_take`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import redis

from jobs.config import FarmSettings
from jobs.keys import FarmKeys
from workers.ticker import Duty, ticker

_CANCEL_POLL_S = 0.1
FIRST_BEAT_WITHIN_S = 2.0  # the first beat is due after one poll; this allows for a busy host


@dataclass
class _Beat:
    key: str
    cancel_key: str
    value: str
    ttl_ms: int
    yield_key: str = ""
    cancelled: threading.Event = field(default_factory=threading.Event)
    yielded: threading.Event = field(default_factory=threading.Event)  # `farm pause --now`
    beaten: bool = False  # its key has been set at least once
    on_refresh: Callable[[], None] | None = None  # called after each refresh, off the lock
    watchdog: Callable[[], None] | None = None  # called every look, off the lock


class _Beater:
    """The process's heartbeat duty (on its ticker): refreshes the keys of its running jobs
    every interval and looks for their cancel keys ten times a second; with no job running
    it is off the ticker."""

    def __init__(self, client: redis.Redis, interval_s: float) -> None:
        self.client, self.interval_s = client, interval_s
        self.beats: dict[str, _Beat] = {}
        self.lock = threading.Lock()
        self.duty: Duty | None = None
        self.last_refresh = 0.0

    def add(self, beat: _Beat) -> None:
        with self.lock:
            self.beats[beat.key] = beat
            if self.duty is None:
                self.duty = ticker().every(_CANCEL_POLL_S, self._tick, "job heartbeat")

    def remove(self, beat: _Beat) -> None:
        """Stop beating for a job and delete its key (under the lock, so that a refresh
        in flight cannot set the key again after the job has ended)."""
        with self.lock:
            self.beats.pop(beat.key, None)
            if not self.beats and self.duty is not None:
                ticker().cancel(self.duty)
                self.duty = None
            if not beat.beaten:
                return
            try:
                self.client.delete(beat.key)
            except redis.RedisError:
                pass  # it expires within three beats

    def _tick(self) -> None:
        refresh = time.monotonic() - self.last_refresh >= self.interval_s
        with self.lock:
            beats = list(self.beats.values())
            if beats:
                self._look(beats, refresh)
        for beat in beats:
            if beat.watchdog is not None:
                beat.watchdog()
        if refresh:
            self.last_refresh = time.monotonic()
            for beat in beats:  # Flower's events, say: slow I/O stays off the beater's lock
                if beat.on_refresh is not None:
                    beat.on_refresh()

    def _look(self, beats: list[_Beat], refresh: bool) -> None:
        pipe = self.client.pipeline(transaction=False)
        setting = [refresh or not beat.beaten for beat in beats]
        for beat, set_key in zip(beats, setting, strict=True):
            pipe.exists(beat.cancel_key, beat.yield_key)
            if set_key:
                pipe.set(beat.key, beat.value, px=beat.ttl_ms)
        answers = iter(pipe.execute())
        for beat, set_key in zip(beats, setting, strict=True):
            if next(answers):  # asked to stop: cancelled, or to go back in line
                # Read once: the attempt that goes back in line takes the same number again.
                if beat.yield_key and self.client.delete(beat.yield_key):
                    beat.yielded.set()
                beat.cancelled.set()
            if set_key:
                next(answers)
                beat.beaten = True


_beaters: dict[tuple[int, int], _Beater] = {}


def _beater(client: redis.Redis, interval_s: float) -> _Beater:
    """This process's beater for this Redis client (a worker has one client, so one duty)."""
    key = (os.getpid(), id(client))
    if key not in _beaters:
        for stale in [k for k in _beaters if k[0] != os.getpid()]:
            del _beaters[stale]
        _beaters[key] = _Beater(client, interval_s)
    return _beaters[key]


class JobHeartbeat:
    """While alive, keeps `<ns>:job:<id>:alive` set (TTL three beats) and watches for cancel."""

    def __init__(self, settings: FarmSettings, client: redis.Redis, job_id: str,
                 worker: str, on_refresh: Callable[[], None] | None = None,
                 attempt: int = 0) -> None:
        self.beater = _beater(client, settings.heartbeat_s)
        keys = FarmKeys(settings.namespace)
        self.beat = _Beat(
            key=keys.job_alive(job_id),
            cancel_key=keys.cancel(job_id),
            yield_key=keys.yield_attempt(job_id, attempt),
            value=json.dumps({"worker": worker, "host": settings.host, "pid": os.getpid(),
                              "since": time.time()}),
            ttl_ms=int(settings.heartbeat_s * 3000),
            on_refresh=on_refresh,
        )
        self.cancelled, self.yielded = self.beat.cancelled, self.beat.yielded

    def watch(self, watchdog: Callable[[], None] | None) -> None:
        """Call `watchdog` at every look (ten times a second) while the job runs."""
        self.beat.watchdog = watchdog

    def start(self) -> JobHeartbeat:
        self.beater.add(self.beat)
        return self

    def stop(self) -> None:
        """End the heartbeat (from any thread: a light job's ends when its commit is done)."""
        self.beater.remove(self.beat)

    def __enter__(self) -> JobHeartbeat:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
