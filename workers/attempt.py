"""One attempt of a job: what its kind's handler gets (JobRun) and gives back (JobOutput)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from jobs.kinds import Kind
from storage.models import JobRecord
from workers.context import ProcessContext
from workers.gpu import Lease
from workers.residency import Residency


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

    def note(self, message: str) -> None:
        """A line in the job's history: what was loaded, which fallback was taken."""
        self.ctx.catalog.note(self.job.id, message, self.attempt)

    @property
    def model(self) -> str | None:
        return self.kind.model(self.params, self.ctx.settings)


Handler = Callable[[JobRun], list[JobOutput]]
