"""A running job's heartbeat in Redis, and its ear for `farm cancel`.

The heartbeat lets a duplicate delivery tell a live run from a dead one; the cancel
check turns a `farm cancel` into an event the running job sees within a fraction of a second.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from types import TracebackType

import redis

from jobs.config import FarmSettings
from jobs.presence import cancel_key, job_alive_key, this_host

log = logging.getLogger(__name__)
_CANCEL_POLL_S = 0.1


class JobHeartbeat:
    """While alive, keeps `<ns>:job:<id>:alive` set (TTL three beats) and watches for cancel."""

    def __init__(self, settings: FarmSettings, client: redis.Redis, job_id: str,
                 worker: str) -> None:
        self.key = job_alive_key(settings, job_id)
        self.cancel_key = cancel_key(settings, job_id)
        self.client = client
        self.interval = settings.heartbeat_s
        self.value = json.dumps({"worker": worker, "host": this_host(), "pid": os.getpid(),
                                 "since": time.time()})
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}",
                                        daemon=True)

    def _ttl_ms(self) -> int:
        return int(self.interval * 3000)

    def _beat(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(_CANCEL_POLL_S):
            try:
                if self.client.exists(self.cancel_key):
                    self.cancelled.set()
                if time.monotonic() - last >= self.interval:
                    self.client.set(self.key, self.value, px=self._ttl_ms())
                    last = time.monotonic()
            except redis.RedisError as exc:
                log.warning("heartbeat for %s failed: %s", self.key, exc)

    def __enter__(self) -> JobHeartbeat:
        self.client.set(self.key, self.value, px=self._ttl_ms())
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            self.client.delete(self.key)
        except redis.RedisError:
            pass
