"""What Flower hears of a delivery beyond Celery's own events: the farm's states and reasons.

Flower learns tasks from Celery's events only and keeps them in memory. Celery says when a task
was received, started and ended; the farm adds its own states as custom events (an event
`task-waiting_gpu` is the state WAITING_GPU in Flower, `task-running` RUNNING), carrying why it
waits or how far it is in `result`, the one free-text field Flower shows in its task list and
page. The latest is sent again with each heartbeat refresh, with the task's name and arguments,
so a Flower started after the job still shows it running or waiting. A job that ends FAILED or
CANCELLED makes its task fail (JobEnded), so Flower does not show it as a success. The catalog
stays the truth; an event that cannot be sent is not the job's problem.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)
AGAIN_EVERY_S = 5.0


class TaskEvents:
    def __init__(self, app: Any, task_id: str, hostname: str, name: str, args: str) -> None:
        self.app, self.task_id, self.hostname = app, task_id, hostname
        self.name, self.args = name, args
        self.latest: tuple[str, str] | None = None
        self.failure: str | None = None  # the job ended FAILED or CANCELLED: the task fails
        self._sent_at = 0.0
        self._lock = threading.Lock()
        self._broken = False

    def tell(self, state: str, note: str) -> None:
        """The job's state in Flower (WAITING_GPU, RUNNING) and the line Flower shows for it."""
        self.latest = (state, note)
        self._send()

    def again(self) -> None:
        """Send the latest state again (from the heartbeat), for a Flower started since."""
        if self.latest is not None and time.monotonic() - self._sent_at >= AGAIN_EVERY_S:
            self._send()

    def _send(self) -> None:
        if self.latest is None:
            return
        state, note = self.latest
        with self._lock:
            try:
                with self.app.events.default_dispatcher(hostname=self.hostname) as dispatcher:
                    dispatcher.send(f"task-{state.lower()}", uuid=self.task_id, name=self.name,
                                    args=self.args, kwargs="{}", result=note)
                self._sent_at = time.monotonic()
                self._broken = False
            except Exception as exc:  # kombu raises many connection error types
                if not self._broken:
                    log.warning("task events for %s not sent (Flower may lag): %s",
                                self.task_id, exc)
                self._broken = True

