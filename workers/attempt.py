"""One attempt of a job: what its kind's handler gets (JobRun) and gives back (JobOutput)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from jobs.kinds import Kind
from storage.models import JobRecord
from workers.context import ProcessContext
from workers.gpu import Lease
from workers.residency import Residency
from workers.task_events import TaskEvents


@dataclass(frozen=True)
class JobOutput:
    name: str
    data: bytes
    media_type: str


def json_bytes(data: dict) -> bytes:
    """A JSON output as stored: sorted keys, so the same content gives the same blob."""
    return (json.dumps(data, sort_keys=True, indent=1) + "\n").encode()


@dataclass
class JobRun:
    """The job, its params, its kind, and the means to stop or hold a GPU."""

    job: JobRecord
    kind: Kind
    params: dict
    attempt: int
    ctx: ProcessContext
    cancelled: threading.Event
    residency: Residency | None = None
    lease: Lease | None = None
    given: list[str] = field(default_factory=list)  # params the submitter named
    # (parent id, relation) of what the outputs came from beyond the job: input artifacts, models
    sources: list[tuple[str, str]] = field(default_factory=list)
    events: TaskEvents | None = None  # what Flower hears of this delivery
    # `farm pause --now` asked this attempt to go back in line (set by its heartbeat).
    yielded: threading.Event = field(default_factory=threading.Event)
    stalled: str | None = None  # why the watchdog stopped it (no progress for stall_s)
    moving_since: float | None = None  # when it last moved (monotonic); None while it waits
    failed: bool = False  # it failed, not for its own inputs (it ended FAILED or waits to retry)
    succeeded: bool = False  # its commit landed
    ended: threading.Event = field(default_factory=threading.Event)

    def waiting(self, reason: str) -> None:
        """It waits for the GPU: the catalog and Flower say why."""
        self.moving_since = None
        self.ctx.catalog.set_progress(self.job.id, 0.0, reason=f"waiting for GPU: {reason}")
        if self.events is not None:
            self.events.tell("WAITING_GPU", f"waiting for GPU: {reason}")

    def running(self, note: str, fraction: float | None = None) -> None:
        """It runs: Flower hears how (the device, the step); with `fraction`, the catalog
        keeps the progress too. Either is progress, as far as the stall watchdog knows."""
        self.moving_since = time.monotonic()
        if fraction is not None:
            self.ctx.catalog.set_progress(self.job.id, fraction, reason=note)
        if self.events is not None:
            line = note if fraction is None else f"{fraction:.0%} ({note})"
            self.events.tell("RUNNING", line)

    def ended_badly(self, why: str) -> None:
        """It ended FAILED or CANCELLED: its Celery task fails too, so Flower says so."""
        if self.events is not None:
            self.events.failure = why

    def note(self, message: str) -> None:
        """A line in the job's history: what was loaded, which fallback was taken."""
        self.moving_since = time.monotonic()
        self.ctx.catalog.note(self.job.id, message, self.attempt)

    @property
    def model(self) -> str | None:
        return self.kind.model(self.params, self.ctx.settings)


Handler = Callable[[JobRun], list[JobOutput]]
