"""What a job reads from the jobs it depends on: the `intent.json` of a `farm render` graph."""

from __future__ import annotations

import json
from typing import Any

from workers.attempt import JobRun


def intent_input(run: JobRun) -> tuple[str, dict[str, Any]] | None:
    """The artifact id and document of an input job's `intent.json`, if the job has one."""
    for dep in run.ctx.catalog.dependencies(run.job.id):
        for artifact in run.ctx.catalog.artifacts(dep.id):
            if artifact.name == "intent.json":
                return artifact.id, json.loads(run.ctx.store.read_bytes(artifact.sha256))
    return None
