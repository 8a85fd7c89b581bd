"""What the CLI shows about a job: its status document and why it is waiting."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from jobs.config import FarmSettings
from jobs.keys import FarmKeys
from storage.states import JobState, as_utc

if TYPE_CHECKING:
    import redis

    from storage.catalog import Catalog
    from storage.models import JobRecord
    from storage.reader import CatalogReader, JobRow


Job: TypeAlias = "JobRecord | JobRow"  # a job as either catalog reader gives it (same names)
Reader: TypeAlias = "Catalog | CatalogReader"


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def artifact_docs(settings: FarmSettings, catalog: Reader, job: Job) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id, "name": a.name, "sha256": a.sha256, "media_type": a.media_type,
            "bytes": a.bytes, "attempt": a.attempt,
            "path": str(settings.outputs_dir / job.project / job.id / a.name),
            "blob": str(settings.store_dir / "sha256" / a.sha256[:2] / a.sha256[2:]),
        }
        for a in catalog.artifacts(job.id)
    ]


def status_doc(settings: FarmSettings, catalog: Reader, job: Job,
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


def queue_length(settings: FarmSettings, client: redis.Redis, tag: str) -> int:
    lists = FarmKeys(settings.namespace).queue_lists(tag)
    return sum(int(client.llen(key)) for key in lists)  # type: ignore[arg-type]


def needs_explaining(job: Job) -> bool:
    """Whether only Redis can tell why the job waits (the catalog knows the rest)."""
    return job.state == JobState.QUEUED and not (job.reason or "").startswith("waiting for inputs")


def explain_wait(settings: FarmSettings, client: redis.Redis | None, job: Job) -> str | None:
    """Why a QUEUED job has not started, in one line, judged now; None when nothing better than
    the catalog."""
    if not needs_explaining(job):
        return job.reason
    if client is None:
        return "Redis unreachable: cannot tell the queue position"
    import redis

    from jobs.holds import explain_hold, pause_seen, why_held
    from jobs.kinds import heavy_job
    from jobs.presence import live_workers

    try:
        heavy = heavy_job(job, settings)
        pause = pause_seen(settings, client)
        if job.hold:
            return explain_hold(settings, pause, job, heavy)
        if (held := why_held(settings, pause, job.tag, heavy)) is not None:
            return held[1]
        workers = [w for w in live_workers(settings, client) if job.tag in w.get("tags", [])]
        refusing = _refusing(settings, client, job.kind)
        waiting = queue_length(settings, client, job.tag)
    except redis.RedisError:
        return "Redis unreachable: cannot tell the queue position"
    if not workers:
        return (f"no worker consumes queue '{job.tag}'; start one with "
                f"`farm worker --tags {job.tag}` or `farm up`")
    if all(w.get("nodename") in refusing for w in workers):
        return refusing[workers[0]["nodename"]]
    return f"in queue '{job.tag}' with {waiting} message(s) waiting, {len(workers)} worker(s)"


def _refusing(settings: FarmSettings, client: redis.Redis, kind: str) -> dict[str, str]:
    """The workers that stopped taking `kind` (the blocklist), with why."""
    from jobs.presence import blocked_workers

    return {name: kinds[kind] for name, kinds in blocked_workers(settings, client).items()
            if kind in kinds}
