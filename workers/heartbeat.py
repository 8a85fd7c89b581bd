"""A running job's heartbeat in Redis, so a duplicate delivery can tell a live run from a dead one."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from types import TracebackType

import redis

from jobs.config import FarmSettings
from jobs.presence import job_alive_key, this_host

log = logging.getLogger(__name__)


class JobHeartbeat:
    """While alive, keeps `<ns>:job:<id>:alive` set with a TTL of three beats."""

    def __init__(self, settings: FarmSettings, client: redis.Redis, job_id: str, worker: str) -> None:
        self.key = job_alive_key(settings, job_id)
        self.client = client
        self.interval = settings.heartbeat_s
        self.value = json.dumps({"worker": worker, "host": this_host(), "pid": os.getpid(),
                                 "since": time.time()})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}",
                                        daemon=True)

    def _ttl_ms(self) -> int:
        return int(self.interval * 3000)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.client.set(self.key, self.value, px=self._ttl_ms())
            except redis.RedisError as exc:
                log.warning("heartbeat for %s failed: %s", self.key, exc)

    def __enter__(self) -> JobHeartbeat:
        self.client.set(self.key, self.value, px=self._ttl_ms())
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
        try:
            self.client.delete(self.key)
        except redis.RedisError:
            pass
