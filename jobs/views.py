"""What the CLI shows about a job: its status document and why it is waiting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis

from jobs.config import FarmSettings
from jobs.presence import live_workers
from storage.catalog import Catalog
from storage.models import JobRecord, JobState

PRIORITY_SUFFIXES = [""] + [f":{n}" for n in range(1, 10)]


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def artifact_docs(settings: FarmSettings, catalog: Catalog, job: JobRecord) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id, "name": a.name, "sha256": a.sha256, "media_type": a.media_type,
            "bytes": a.bytes, "attempt": a.attempt,
            "path": str(settings.outputs_dir / job.project / job.id / a.name),
            "blob": str(settings.store_dir / "sha256" / a.sha256[:2] / a.sha256[2:]),
        }
        for a in catalog.artifacts(job.id)
    ]


def status_doc(settings: FarmSettings, catalog: Catalog, job: JobRecord,
               reason: str | None = None) -> dict[str, Any]:
    return {
        "job_id": job.id, "kind": job.kind, "state": str(job.state),
        "progress": job.progress, "reason": reason if reason is not None else job.reason,
        "attempts": job.attempts, "worker": job.worker, "worker_pid": job.worker_pid,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at), "priority": job.priority,
        "project": job.project, "seed": job.seed,
        "params": json.loads(job.params_json)["params"],
        "depends_on": [d.id for d in catalog.dependencies(job.id)],
        "artifacts": artifact_docs(settings, catalog, job), "error": job.error,
    }


def queue_keys(settings: FarmSettings, tag: str) -> list[str]:
    """The Redis lists of one queue: Celery emulates priorities with one list per level."""
    return [f"{settings.namespace}:{tag}{suffix}" for suffix in PRIORITY_SUFFIXES]


def queue_length(settings: FarmSettings, client: redis.Redis, tag: str) -> int:
    return sum(int(client.llen(key)) for key in queue_keys(settings, tag))  # type: ignore[arg-type]


def explain_wait(settings: FarmSettings, client: redis.Redis | None, job: JobRecord) -> str | None:
    """Why a QUEUED job has not started, in one line; None when nothing better than the catalog."""
    if job.state != JobState.QUEUED or (job.reason or "").startswith("waiting for inputs"):
        return job.reason
    if client is None:
        return "Redis unreachable: cannot tell the queue position"
    try:
        workers = [w for w in live_workers(settings, client) if job.tag in w.get("tags", [])]
        waiting = queue_length(settings, client, job.tag)
    except redis.RedisError:
        return "Redis unreachable: cannot tell the queue position"
    if not workers:
        return (f"no worker consumes queue '{job.tag}'; start one with "
                f"`farm worker --tags {job.tag}` or `farm up`")
    return f"in queue '{job.tag}' with {waiting} message(s) waiting, {len(workers)} worker(s)"
