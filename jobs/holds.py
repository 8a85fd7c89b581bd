"""What holds a ready job back, and letting it go: the user's pause, quiet hours, a disk
running full, a retry's backoff.

A held job stays QUEUED but is no longer dispatched (`hold` says why, `reason` in words): its
message, if one is on its way, runs nothing, so no worker slot waits on it. The release
pass (`release_held`, once a second in every worker and in `farm up`; at once on `farm
resume`) sends it again when nothing holds it any more, in fair order.

The pause is the user's: kept in the catalog (it outlives Redis and restarts) with a copy in
Redis that the workers look at (`sync_pause` puts the catalog's back after a flush).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from jobs.config import FarmSettings
from jobs.keys import FarmKeys
from jobs.schedule import farm_now, inside, next_opening, parse_windows
from storage.states import JobState, as_utc, utcnow

if TYPE_CHECKING:
    from storage.catalog import Catalog
    from storage.models import JobRecord

log = logging.getLogger(__name__)
PAUSE_FLAG = "pause"
ALL_TAGS = "*"
Hold = tuple[str, str]  # (what holds it: pause | quiet | disk | backoff, the reason in words)


# the pause -----------------------------------------------------------------------------------

def pause_of(catalog: Catalog) -> dict[str, Any]:
    """The catalog's pause: {tag or "*": {"at": iso, "now": bool}}; empty when not paused."""
    raw = catalog.flag(PAUSE_FLAG)
    return json.loads(raw) if raw else {}


def write_pause(settings: FarmSettings, catalog: Catalog, client: redis.Redis,
                pause: dict[str, Any]) -> None:
    """The catalog first (the truth), then Redis's copy."""
    catalog.set_flag(PAUSE_FLAG, json.dumps(pause, sort_keys=True) if pause else None)
    sync_pause(settings, client, pause)


def sync_pause(settings: FarmSettings, client: redis.Redis, pause: dict[str, Any]) -> None:
    """Redis's copy: `{}` when not paused, so that a missing key means Redis lost it (a flush,
    a restart without AOF), not that the farm runs."""
    client.set(FarmKeys(settings.namespace).pause, json.dumps(pause, sort_keys=True))


_seen: dict[str, tuple[float, dict[str, Any]]] = {}
_PAUSE_FRESH_S = 0.5


def pause_seen(settings: FarmSettings, client: redis.Redis,
               catalog: Catalog | None = None) -> dict[str, Any]:
    """Redis's copy of the pause, read at most twice a second per process (the workers'
    look before each job, and their resident models' keepers). Where Redis lost it, the
    catalog's, when one is at hand (and the copy is put back)."""
    now = time.monotonic()
    cached = _seen.get(settings.namespace)
    if cached is not None and now - cached[0] < _PAUSE_FRESH_S:
        return cached[1]
    raw = client.get(FarmKeys(settings.namespace).pause)
    if raw is not None:
        pause = json.loads(raw)
    elif catalog is not None:
        pause = pause_of(catalog)
        sync_pause(settings, client, pause)
    else:
        pause = {}
    _seen[settings.namespace] = (now, pause)
    return pause


def paused_at(pause: dict[str, Any], tag: str) -> datetime | None:
    entry = pause.get(tag) or pause.get(ALL_TAGS)
    return datetime.fromisoformat(entry["at"]) if entry else None


def local_hm(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


# why a job may not start now ----------------------------------------------------------------

def pause_reason(at: datetime) -> str:
    return f"paused by the user at {local_hm(at)}; `farm resume` lets it go on"


def why_held(settings: FarmSettings, pause: dict[str, Any], tag: str, heavy: bool) -> Hold | None:
    """What keeps a job of `tag` (taking a GPU when `heavy`) from starting now, or None."""
    if (at := paused_at(pause, tag)) is not None:
        return "pause", pause_reason(at)
    windows = settings.schedule.get(tag) or (settings.schedule.get("heavy") if heavy else None)
    if windows:
        now = farm_now(settings.clock_offset_s)
        parsed = parse_windows(windows)
        if not inside(parsed, now):
            return "quiet", f"quiet hours until {next_opening(parsed, now).strftime('%H:%M')}"
    if heavy and (low := disk_low(settings)) is not None:
        return "disk", low
    return None


_disk_seen: dict[Path, tuple[float, int]] = {}


def free_mb(settings: FarmSettings) -> int:
    """Free space under FARM_HOME (or the nearest folder of it that exists), looked at most
    once a second."""
    path = settings.home_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    now = time.monotonic()
    if (cached := _disk_seen.get(path)) is not None and now - cached[0] < 1.0:
        return cached[1]
    free = shutil.disk_usage(path).free // (1 << 20)
    _disk_seen[path] = (now, free)
    return free


def disk_low(settings: FarmSettings) -> str | None:
    if settings.disk_min_free_mb <= 0:
        return None
    if (free := free_mb(settings)) >= settings.disk_min_free_mb:
        return None
    return (f"disk nearly full: {free} MB free under {settings.home_dir}, below "
            f"disk_min_free_mb {settings.disk_min_free_mb}; free some space (or lower it)")


def backoff_reason(job: JobRecord | Any) -> str:
    """A held retry's wait in words, true at the moment it is said."""
    due = job.not_before
    if due is None or as_utc(due) <= utcnow():
        return f"retry due now, on its way to a worker (after: {job.last_error})"
    return f"{job.reason}"


def explain_hold(settings: FarmSettings, pause: dict[str, Any], job: Any, heavy: bool) -> str:
    """Why a held job waits, judged now (what held it may have passed a moment ago)."""
    if job.hold == "backoff":
        return backoff_reason(job)
    held = why_held(settings, pause, job.tag, heavy)
    return held[1] if held else "nothing holds it any more; on its way to a worker"


# letting held jobs go -----------------------------------------------------------------------

def release_held(settings: FarmSettings, catalog: Catalog, client: redis.Redis | None = None,
                 pause: dict[str, Any] | None = None) -> list[str]:
    """Send every held job that nothing holds now: not paused by the catalog (the truth) nor
    by the workers' copy in Redis (which may lag it by a reconcile pass: the two may not
    disagree into a job held by one and released by the other every second)."""
    from jobs.dispatch import send_job
    from jobs.errors import BrokerUnreachable
    from jobs.kinds import heavy_job

    held = catalog.held_jobs()
    if not held:
        return []
    if pause is None:
        pause = pause_of(catalog)
        if client is not None:
            pause = {**pause_seen(settings, client), **pause}
    released = []
    for job in held:
        if job.hold == "backoff":
            if job.not_before is not None and as_utc(job.not_before) > utcnow():
                continue
        elif why_held(settings, pause, job.tag, heavy_job(job, settings)) is not None:
            continue
        if not catalog.release_job(job.id, job.hold or ""):
            continue  # released, cancelled or retried by someone else meanwhile
        try:
            send_job(settings, catalog.get_job(job.id))
        except BrokerUnreachable:
            pass  # dispatched in the catalog: the reconciler sends it
        released.append(job.id)
    return released


def pause_now(settings: FarmSettings, catalog: Catalog, client: redis.Redis, tags: list[str],
              now: bool) -> dict[str, Any]:
    """Pause `tags` (or all); with `now`, tell their running jobs to go back in line."""
    pause = pause_of(catalog)
    at = datetime.now(UTC).isoformat()
    for tag in tags or [ALL_TAGS]:
        pause[tag] = {"at": pause.get(tag, {}).get("at", at), "now": now}
    write_pause(settings, catalog, client, pause)
    # Queued jobs are held first, so that one a worker claims meanwhile (its look at the
    # pause a moment old) is running by the time running jobs are told to go back.
    reason = pause_reason(datetime.fromisoformat(pause[tags[0] if tags else ALL_TAGS]["at"]))
    held = [j.id for j in catalog.waiting_jobs(None if not tags else tags, (JobState.QUEUED,))
            if j.dispatched_at is not None and catalog.hold_job(j.id, "pause", reason)]
    stopped = []
    if now:
        keys = FarmKeys(settings.namespace)
        for job in catalog.waiting_jobs(None if not tags else tags,
                                        states=(JobState.RUNNING, JobState.WAITING_GPU)):
            client.set(keys.yield_attempt(job.id, job.attempts), "1", ex=24 * 3600)
            stopped.append(job.id)
    return {"paused": sorted(pause), "at": at, "stopping": stopped, "held": held}
