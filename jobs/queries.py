"""Reading jobs out of the catalog for people and scripts: status, wait, ls, artifacts.

These are the commands scripts call in loops, so they read through storage.reader (plain SQL,
no database toolkit) and reach for Redis only when a queued job's wait needs explaining.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.config import FarmSettings
from jobs.errors import BadJobSpec, WaitTimedOut
from jobs.home import open_reader
from jobs.views import explain_wait, iso, needs_explaining, status_doc
from storage.states import JobState

if TYPE_CHECKING:
    import redis


def _quiet_redis(settings: FarmSettings) -> redis.Redis | None:
    import redis

    from jobs.broker import redis_client

    client = redis_client(settings)
    try:
        client.ping()
    except (redis.RedisError, OSError):
        return None
    return client


def job_status(settings: FarmSettings, job_id: str, explain: bool = True) -> dict[str, Any]:
    reader = open_reader(settings)
    job = reader.get_job(job_id)
    reason = None
    if explain and needs_explaining(job):
        reason = explain_wait(settings, _quiet_redis(settings), job)
    return status_doc(settings, reader, job, reason)


def wait_for_job(settings: FarmSettings, job_id: str, timeout_s: float, poll_s: float = 0.2,
                 on_change: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Wait for the job to end; `on_change` hears each new state, progress or reason."""
    reader = open_reader(settings)
    job = reader.get_job(job_id)
    deadline = time.monotonic() + timeout_s
    said = ""
    while not job.state.is_terminal:
        if on_change is not None and (now := _progress_line(job.state, job.progress,
                                                            job.reason)) != said:
            on_change(now)
            said = now
        if time.monotonic() >= deadline:
            raise WaitTimedOut(f"job {job.id[:12]} still {job.state} after {timeout_s:g} s")
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        job = reader.get_job(job.id)
    return status_doc(settings, reader, job)


def list_docs(settings: FarmSettings, states: list[str], kinds: list[str],
              limit: int, projects: list[str] | None = None) -> list[dict[str, Any]]:
    try:
        wanted = [JobState(s.upper()) for s in states]
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise BadJobSpec(f"--state must be one of {names}") from None
    return [
        {"job_id": j.id, "kind": j.kind, "state": str(j.state), "progress": j.progress,
         "attempts": j.attempts, "project": j.project, "seed": j.seed,
         "created_at": iso(j.created_at), "reason": j.reason, "error": j.error}
        for j in open_reader(settings).list_jobs(wanted, kinds, limit, projects or [])
    ]


def _progress_line(state: Any, progress: float, reason: str | None) -> str:
    if str(state) == "RUNNING":
        return f"RUNNING {progress:.0%}" + (f" ({reason})" if reason else "")
    return f"{state}" + (f": {reason}" if reason else "")


def status_text(doc: dict[str, Any]) -> str:
    lines = [f"{doc['job_id']}  {doc['kind']}  {doc['state']}  attempts={doc['attempts']}"]
    if doc["state"] == "RUNNING" and (doc.get("progress") or doc.get("reason")):
        lines.append(f"  progress: {doc.get('progress') or 0:.0%}"
                     + (f" ({doc['reason']})" if doc.get("reason") else ""))
    elif doc.get("reason"):
        lines.append(f"  why: {doc['reason']}")
    if doc.get("error"):
        lines.append(f"  error: {doc['error']}")
    if doc.get("worker"):
        lines.append(f"  worker: {doc['worker']} (pid {doc['worker_pid']})")
    lines += [f"  {a['path']}" for a in doc["artifacts"]]
    return "\n".join(lines)


def artifacts_text(doc: dict[str, Any]) -> str:
    rows = [f"{a['sha256'][:12]}  {a['bytes']:>9}  {a['media_type']:<18} {a['path']}"
            for a in doc["artifacts"]]
    if not rows:
        return f"job {doc['job_id'][:12]} has no artifacts ({doc['state']})"
    return "\n".join(rows + _report_card_lines(doc))


def _report_card_lines(doc: dict[str, Any]) -> list[str]:
    """The MIDI report card in brief, read from the job's `report.json`."""
    found = [a for a in doc["artifacts"] if a["name"] == "report.json"]
    try:
        card = json.loads(Path(found[0]["path"]).read_text()) if found else {}
    except (OSError, ValueError):
        return ["report card: unreadable (run `farm catalog verify`)"]
    if "bands_inside_fraction" not in card:
        return []
    lines = [f"report card: {card['bands_inside_fraction']:.0%} of metrics inside the bands of real "
             f"music; key {card.get('analysis_key') or '-'}; {card.get('notes_total', 0)} notes"]
    if preview := card.get("preview"):
        lines.append(f"preview: {preview['duration_s']:.1f} s, RMS {preview['rms_dbfs']:.1f} dBFS, "
                     f"peak {preview['peak_dbfs']:.1f} dBFS")
    return lines + [f"  warning: {w}" for w in card.get("warnings", [])]


def jobs_table(docs: list[dict[str, Any]]) -> str:
    if not docs:
        return "no jobs"
    rows = [f"{'JOB':<12}  {'KIND':<6} {'STATE':<11} {'TRIES':>5}  {'CREATED':<20} NOTE"]
    for d in docs:
        note = d["error"] or d["reason"] or ""
        rows.append(f"{d['job_id'][:12]}  {d['kind']:<6} {d['state']:<11} {d['attempts']:>5}  "
                    f"{d['created_at'][:19]:<20} {note}")
    return "\n".join(rows)


def gpu_docs(settings: FarmSettings) -> list[dict[str, Any]]:
    from jobs.broker import check_redis
    from jobs.gpu_state import gpu_report
    from jobs.hosts import known_devices
    from jobs.presence import live_workers

    client = check_redis(settings)
    devices = known_devices(settings, live_workers(settings, client))  # every host's
    return gpu_report(client, settings.namespace, devices)


def gpu_text(docs: list[dict[str, Any]]) -> str:
    lines = []
    now_ms = time.time() * 1000
    for doc in docs:
        held = doc["holder"]
        if held is None:
            lines.append(f"{doc['device']} ({doc['vram_mb']} MB): free")
        elif held.get("idle"):
            lines.append(f"{doc['device']} ({doc['vram_mb']} MB): idle, model {held.get('model')} "
                         f"resident in {held['worker']} (token {held['token']})")
        else:
            lines.append(f"{doc['device']} ({doc['vram_mb']} MB): held by job {held['job_id'][:12]} "
                         f"({held.get('kind')}, {held.get('model')}) in {held['worker']}, "
                         f"token {held['token']}, expires in {held['expires_in_ms'] / 1000:.1f} s")
        for n, w in enumerate(doc["waiting"], 1):
            waited = (now_ms - w["since_ms"]) / 1000
            lines.append(f"  {n}. job {w['job_id'][:12]} ({w.get('kind')}, {w.get('model')}) "
                         f"priority {w['priority']}, waiting {waited:.1f} s")
    return "\n".join(lines)
