"""Telling live streams that the catalog has new events: a Redis PUBLISH of the job's id.

The catalog stays the truth: a notification only wakes the API's streams (jobs.api.events),
which then read the events from the catalog by id, and which also look every second on their
own, so a notification lost (Redis away, nobody subscribed) costs latency, never an event.
A catalog write never fails or waits for it: after a failed publish this process stays quiet
for a few seconds instead of trying Redis again on every event.
"""

from __future__ import annotations

import time

import redis

from jobs.broker import redis_client
from jobs.config import FarmSettings
from jobs.errors import FarmError
from jobs.keys import FarmKeys

QUIET_AFTER_FAILURE_S = 5.0


class EventNotifier:
    """A catalog's `on_event`: publishes the job id on the farm's events channel."""

    def __init__(self, settings: FarmSettings) -> None:
        self.settings = settings
        self.channel = FarmKeys(settings.namespace).events
        self._quiet_until = 0.0

    def __call__(self, job_id: str) -> None:
        if time.monotonic() < self._quiet_until:
            return
        try:
            redis_client(self.settings).publish(self.channel, job_id)
        except (redis.RedisError, OSError, FarmError):
            self._quiet_until = time.monotonic() + QUIET_AFTER_FAILURE_S
