"""The user's hand on the queue: pause and resume, re-ordering, the planned order and why each
job waits, and clearing a worker's blocklist.

The order `farm queue` shows is the order the farm serves: on a device, the holder, then the
line of claimed jobs in the lease's order (`jobs.gpu_state.wait_score`), then the ready jobs in
the catalog's fair order (priority, then place in line: what each worker's next turn takes,
`workers.claim`), then the held ones. Every reason is worked out when it is shown, from the
lease, the clock and the catalog, not from what was written when the job started waiting.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from jobs.broker import check_redis
from jobs.config import FarmSettings
from jobs.errors import FarmError, shown
from jobs.gpu_state import read_holder, read_waiters, rescore_waiter
from jobs.holds import (
    ALL_TAGS,
    explain_hold,
    pause_now,
    pause_of,
    pause_reason,
    paused_at,
    release_held,
    write_pause,
)
from jobs.home import open_catalog
from jobs.hosts import device_named, known_devices
from jobs.keys import FarmKeys
from jobs.kinds import heavy_job
from jobs.presence import blocked_workers, live_workers
from storage.catalog import WAITING, Catalog
from storage.models import JobRecord, JobState
from storage.states import as_utc


class NotPaused(FarmError):
    """`farm resume` with nothing paused."""


class NotWaiting(FarmError):
    """Re-ordering a job that is running or has ended."""


class NotBlocked(FarmError):
    """`farm worker unblock` of a worker that refuses nothing."""


# pause and resume ----------------------------------------------------------------------------

def pause(settings: FarmSettings, tags: list[str], now: bool) -> dict[str, Any]:
    client, catalog = check_redis(settings), open_catalog(settings)
    doc = pause_now(settings, catalog, client, tags, now)
    what = "everything" if ALL_TAGS in doc["paused"] else ", ".join(doc["paused"])
    running = (f"{len(doc['stopping'])} running job(s) go back in line" if now
               else "running jobs finish; `--now` puts them back in line")
    doc["message"] = (f"paused {what}; {len(doc['held'])} queued job(s) held; {running}; "
                      "`farm resume` to go on")
    return doc


def resume(settings: FarmSettings, tags: list[str]) -> dict[str, Any]:
    client, catalog = check_redis(settings), open_catalog(settings)
    current = pause_of(catalog)
    if not current:
        raise NotPaused("the farm is not paused; nothing to resume")
    gone = list(current) if not tags else [t for t in tags if t in current]
    if not gone:
        raise NotPaused(f"{', '.join(tags)} not paused; paused: {', '.join(sorted(current))}")
    left = {t: v for t, v in current.items() if t not in gone}
    write_pause(settings, catalog, client, left)
    released = release_held(settings, catalog, pause=left)
    still = f"; still paused: {', '.join(sorted(left))}" if left else ""
    return {"resumed": sorted(gone), "released": released, "paused": sorted(left),
            "message": f"resumed {', '.join(sorted(gone))}; {len(released)} job(s) sent{still}"}


# re-ordering ----------------------------------------------------------------------------------

def _waiting(catalog: Catalog, job_id: str) -> JobRecord:
    job = catalog.get_job(job_id)
    if job.state not in WAITING:
        raise NotWaiting(f"job {job.id[:12]} is {job.state}: only a waiting job (QUEUED or "
                         "WAITING_GPU) can be re-ordered")
    return job


def _reordered(settings: FarmSettings, catalog: Catalog, job: JobRecord, priority: int,
               rank: float) -> dict[str, Any]:
    if not catalog.reorder(job.id, priority, rank):
        raise NotWaiting(f"job {job.id[:12]} started or ended meanwhile; nothing re-ordered")
    if job.state == JobState.WAITING_GPU:  # in a device's line: its place there moves too
        client = check_redis(settings)
        for device in known_devices(settings, live_workers(settings, client)):
            rescore_waiter(client, FarmKeys(settings.namespace).gpu(device), job.id, priority,
                           int(rank * 1000))
    return {"job_id": job.id, "priority": priority, "rank": rank}


def set_priority(settings: FarmSettings, job_id: str, priority: int) -> dict[str, Any]:
    catalog = open_catalog(settings)
    job = _waiting(catalog, job_id)
    doc = _reordered(settings, catalog, job, priority, _rank(job))
    doc["message"] = f"job {job.id[:12]} now priority {priority}"
    return doc


def move_before(settings: FarmSettings, job_id: str, other_id: str) -> dict[str, Any]:
    catalog = open_catalog(settings)
    job, other = _waiting(catalog, job_id), _waiting(catalog, other_id)
    if job.id == other.id:
        raise NotWaiting("a job cannot move before itself")
    if job.tag != other.tag and not (heavy_job(job, settings) and heavy_job(other, settings)):
        raise NotWaiting(f"job {job.id[:12]} waits in '{job.tag}', job {other.id[:12]} in "
                         f"'{other.tag}': they are not in one line")
    doc = _reordered(settings, catalog, job, other.priority, catalog.rank_before(other))
    doc["message"] = (f"job {job.id[:12]} now goes right before {other.id[:12]} "
                      f"(priority {other.priority})")
    return doc


def _rank(job: JobRecord) -> float:
    return job.rank if job.rank is not None else as_utc(job.created_at).timestamp()


# the planned order ---------------------------------------------------------------------------

def planned_order(settings: FarmSettings, device: str | None = None) -> list[dict[str, Any]]:
    """Per device, then per queue of light jobs: the jobs in the order they will be served,
    each with why it waits."""
    client = check_redis(settings)
    workers = live_workers(settings, client)
    known = known_devices(settings, workers)  # every host's, qualified (`studio-pc/gpu0`)
    devices = [device_named(settings, workers, device)] if device else list(known)
    catalog = open_catalog(settings)
    pause = pause_of(catalog)
    waiting = catalog.waiting_jobs()
    heavy = {j.id: heavy_job(j, settings) for j in waiting}
    lines = []
    unplaced = [j for j in waiting if heavy[j.id] and j.state == JobState.QUEUED]
    for name in devices:
        lines.append(_device_line(settings, client, name, known[name], waiting, unplaced
                                  if len(known) == 1 else [], pause, heavy))
    if len(known) > 1 and device is None and unplaced:
        lines.append(_queue_line(settings, "any device", unplaced, pause, heavy))
    if device is None:
        for tag in sorted({j.tag for j in waiting if not heavy[j.id]}):
            light = [j for j in waiting if j.tag == tag and not heavy[j.id]]
            lines.append(_queue_line(settings, f"queue {tag}", light, pause, heavy))
    return lines


def _device_line(settings: FarmSettings, client: redis.Redis, device: str, vram_mb: int,
                 waiting: list[JobRecord], queued: list[JobRecord], pause: dict[str, Any],
                 heavy: dict[str, bool]) -> dict[str, Any]:
    keys = FarmKeys(settings.namespace).gpu(device)
    holder = read_holder(client, keys)
    by_id = {j.id: j for j in waiting}
    line = [w for w in read_waiters(client, keys) if w["job_id"] in by_id]
    rows: list[dict[str, Any]] = []
    now_ms = time.time() * 1000
    if holder is None:
        who = "free"
    elif holder.get("idle"):
        who = f"idle, model {holder.get('model')} resident"
    else:
        who = f"job {holder['job_id'][:12]} ({holder.get('kind')}, {holder.get('model')})"
    for n, w in enumerate(line):
        job = by_id[w["job_id"]]
        if n == 0:
            why = ("next: the device is free" if holder is None else
                   f"next, once {who} lets go" if not holder.get("idle") else
                   "next, once the resident model is unloaded")
        else:
            why = f"in line for {device}: {n} ahead"
        waited_s = (now_ms - w.get("since_ms", now_ms)) / 1000
        rows.append(_row(job, "WAITING_GPU", f"{why} (waiting {waited_s:.0f} s)"))
    ahead = len(line)
    resident = holder.get("model") if holder and holder.get("idle") else None
    rows += _queued_rows(settings, queued, pause, heavy, ahead, resident)
    return {"line": device, "vram_mb": vram_mb, "holder": holder,
            "holder_text": who, "jobs": rows}


def _queue_line(settings: FarmSettings, name: str, jobs: list[JobRecord],
                pause: dict[str, Any], heavy: dict[str, bool]) -> dict[str, Any]:
    running = [j for j in jobs if j.state == JobState.WAITING_GPU]
    rows = [_row(j, "WAITING_GPU", "claimed; waits for its device's lease") for j in running]
    queued = [j for j in jobs if j.state == JobState.QUEUED]
    return {"line": name, "holder": None, "holder_text": "", "jobs":
            rows + _queued_rows(settings, queued, pause, heavy, len(rows), None)}


def _queued_rows(settings: FarmSettings, queued: list[JobRecord], pause: dict[str, Any],
                 heavy: dict[str, bool], ahead: int, resident: str | None) -> list[dict[str, Any]]:
    rows = []
    ready = [j for j in queued if j.dispatched_at is not None]
    head = ready[0] if ready else None
    for job in ready:
        why = f"ready, priority {job.priority}: {ahead} ahead"
        if resident and job.model == resident and head is not None and head.model != resident:
            window = settings.affinity_window_s
            if _waited_s(head) < window:
                why += (f"; its model {resident} is resident, so it may go first until the "
                        f"head has waited {window:g} s")
        rows.append(_row(job, "QUEUED", why))
        ahead += 1
    for job in queued:
        if job.dispatched_at is None:
            why = (explain_hold(settings, pause, job, heavy[job.id]) if job.hold
                   else job.reason or "waiting for its inputs")
            rows.append(_row(job, "QUEUED", why, held=True))
    return rows


def _waited_s(job: JobRecord) -> float:
    from storage.states import seconds_since

    return seconds_since(job.dispatched_at or job.created_at)


def _row(job: JobRecord, state: str, why: str, held: bool = False) -> dict[str, Any]:
    return {"job_id": job.id, "kind": job.kind, "state": state, "priority": job.priority,
            "rank": job.rank, "model": job.model, "held": held, "why": why}


def queue_text(lines: list[dict[str, Any]]) -> str:
    out = []
    for line in lines:
        head = line["line"] + (f": {line['holder_text']}" if line["holder_text"] else "")
        out.append(head)
        if not line["jobs"]:
            out.append("  (nothing waiting)")
        for n, row in enumerate(line["jobs"], 1):
            out.append(f"  {n:>2}. {row['job_id'][:12]}  {row['kind']:<6} p{row['priority']}  "
                       f"{row['why']}")
    return "\n".join(out) if out else "nothing waiting"


def pause_line(settings: FarmSettings, catalog: Catalog) -> str | None:
    """`farm doctor`'s line on the pause, if any."""
    current = pause_of(catalog)
    if not current:
        return None
    return "; ".join(f"{'everything' if t == ALL_TAGS else t} {pause_reason(at)}"
                     for t in sorted(current) if (at := paused_at(current, t)) is not None)


# the blocklist --------------------------------------------------------------------------------

def unblock(settings: FarmSettings, worker: str | None, kind: str | None) -> dict[str, Any]:
    client = check_redis(settings)
    keys = FarmKeys(settings.namespace)
    blocked = blocked_workers(settings, client)
    names = [worker] if worker else list(blocked)
    if worker and worker not in blocked:
        raise NotBlocked(f"worker {shown(worker, 80)} refuses no kind; blocked: "
                         f"{', '.join(blocked) or 'none'}")
    cleared = []
    for name in names:
        for k in [kind] if kind else list(blocked.get(name, {})):
            if client.hdel(keys.blocked(name), k):
                client.delete(keys.failures(name, k))
                cleared.append({"worker": name, "kind": k})
    what = ", ".join(f"{c['worker']} ({c['kind']})" for c in cleared) or "nothing"
    return {"cleared": cleared, "message": f"unblocked {what}"}
