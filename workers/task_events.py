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
import os
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
        self._since = self._sent_at = time.monotonic()

    def tell(self, state: str, note: str) -> None:
        """The job's state in Flower (WAITING_GPU, RUNNING) and the line Flower shows, sent
        now (by the process's sender: the job never waits on the broker)."""
        self.latest = (state, note)
        _sender().post(self)

    def note(self, state: str, note: str) -> None:
        """The same, sent only if the job is still at it when `again` comes round: a short
        job costs no event of the farm's own."""
        self.latest = (state, note)

    def again(self) -> None:
        """Send the latest state again (from the heartbeat), for a Flower started since."""
        now = time.monotonic()
        if self.latest is not None and min(now - self._since, now - self._sent_at) >= AGAIN_EVERY_S:
            self._sent_at = now
            _sender().post(self)

    def send(self) -> None:
        """Publish the latest state (on the sender's thread)."""
        if self.latest is None:
            return
        state, note = self.latest
        with self.app.events.default_dispatcher(hostname=self.hostname) as dispatcher:
            dispatcher.send(f"task-{state.lower()}", uuid=self.task_id, name=self.name,
                            args=self.args, kwargs="{}", result=note)
        self._sent_at = time.monotonic()


class _Sender:
    """One thread per process publishes the latest state of each task that has news. A broker
    that is away or slow delays Flower, never a job or its heartbeat."""

    def __init__(self) -> None:
        self.due: dict[str, TaskEvents] = {}
        self.ready = threading.Condition()
        self.broken = False
        threading.Thread(target=self._run, name="task events", daemon=True).start()

    def post(self, events: TaskEvents) -> None:
        with self.ready:
            self.due[events.task_id] = events
            self.ready.notify()

    def _run(self) -> None:
        while True:
            with self.ready:
                while not self.due:
                    self.ready.wait()
                batch, self.due = list(self.due.values()), {}
            for events in batch:
                try:
                    events.send()
                    self.broken = False
                except Exception as exc:  # kombu raises many connection error types
                    if not self.broken:
                        log.warning("task events not sent (Flower may lag): %s", exc)
                    self.broken = True


_senders: dict[int, _Sender] = {}
_lock = threading.Lock()


def _sender() -> _Sender:
    """This process's sender (a forked pool child starts its own)."""
    with _lock:
        if os.getpid() not in _senders:
            _senders.clear()
            _senders[os.getpid()] = _Sender()
        return _senders[os.getpid()]
