"""The reconciler: make Redis agree with the catalog again after a flush, restart or crash.

It re-sends ready jobs that no Redis queue holds, sends jobs whose inputs finished while no
one was there to send them, and re-queues jobs whose runner vanished. Every action is
conditional on the catalog, and a duplicate message is harmless (a delivery runs a job only
by claiming it), so running it often, or twice, is safe. One pass at a time, by a Redis lock.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from redis.exceptions import LockError

from jobs.config import FarmSettings
from jobs.dead_letters import set_aside_entry
from jobs.dispatch import dispatch_if_ready, resend
from jobs.holds import pause_of, sync_pause
from jobs.hosts import host_of
from jobs.keys import FarmKeys, UnreadableMessage, queued_job_id, unacked_job_ids
from jobs.kinds import TAGS
from jobs.presence import live_workers
from storage.catalog import Catalog
from storage.models import JobRecord
from storage.states import JobState, seconds_since

log = logging.getLogger(__name__)
SEND_GRACE_S = 5.0  # a message sent this recently may still be on its way
UNACKED_GRACE_S = 30.0  # a live worker claims what it was delivered well within this
LOCK_TIMEOUT_S = 60.0


def reconcile_once(settings: FarmSettings, catalog: Catalog, client: redis.Redis) -> dict[str, Any]:
    """One pass; returns what it did. Skips (returns {"skipped": True}) if another pass runs."""
    lock = client.lock(FarmKeys(settings.namespace).reconciler_lock, timeout=LOCK_TIMEOUT_S)
    if not lock.acquire(blocking=False):
        return {"skipped": True}
    try:
        redeclare_queues(settings)
        sync_pause(settings, client, pause_of(catalog))  # a flushed Redis forgot the pause
        known, dead = scan_queues(settings, catalog, client)
        report = {
            "resent": _resend_lost(settings, catalog, known),
            "released": _release_waiting(settings, catalog),
            "requeued": _requeue_orphans(settings, catalog, client),
            "dead_lettered": dead,
        }
    finally:
        try:
            lock.release()
        except LockError:  # it expired during a long pass and another reconciler holds it now
            pass
    if any(report.values()):
        log.info("reconciler: %s", {k: len(v) for k, v in report.items()})
    return {"skipped": False, **report}


def redeclare_queues(settings: FarmSettings) -> None:
    """A flushed Redis forgets its exchange bindings, and a publish to them then vanishes."""
    from jobs.app import app_for

    app = app_for(settings)
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in app.amqp.queues.values():
            queue(channel).declare()


def scan_queues(settings: FarmSettings, catalog: Catalog,
                client: redis.Redis) -> tuple[set[str], list[str]]:
    """Ids of jobs with a message waiting in a queue, or delivered but not yet acknowledged;
    and the queues whose entries were no message of a catalogued job, which are moved to the
    dead letters (a poison entry must neither stop the reconciler nor wait there for ever;
    a job is catalogued before its message is sent, so a message naming none is no job's)."""
    keys = FarmKeys(settings.namespace)
    queued: dict[str, list[tuple[str, bytes]]] = {}
    dead: list[str] = []
    for tag in TAGS:
        for key in keys.queue_lists(tag):
            for raw in client.lrange(key, 0, -1):  # type: ignore[union-attr]
                try:
                    queued.setdefault(queued_job_id(raw), []).append((key, _bytes(raw)))
                except UnreadableMessage as why:
                    set_aside_entry(client, keys, key, _bytes(raw), str(why))
                    dead.append(key)
    for job_id in catalog.unknown_ids(list(queued)):
        for key, raw in queued.pop(job_id):
            set_aside_entry(client, keys, key, raw, "names no job in the catalog")
            dead.append(key)
    # A delivered message counts only while young: one held by a worker that died stays in
    # `unacked` until the visibility timeout, and its job would wait that long.
    entries: dict[Any, Any] = client.hgetall(keys.unacked)  # type: ignore[assignment]
    index = dict(client.zrange(keys.unacked_index, 0, -1, withscores=True))  # type: ignore[arg-type]
    return set(queued) | unacked_job_ids(entries, index, time.time() - UNACKED_GRACE_S), dead


def _bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode()


def _old(moment: Any, seconds: float) -> bool:
    return moment is not None and seconds_since(moment) > seconds


def _active(catalog: Catalog, state: JobState) -> list[JobRecord]:
    return catalog.list_jobs(states=[state], limit=1_000_000)


def _resend_lost(settings: FarmSettings, catalog: Catalog, known: set[str]) -> list[str]:
    resent = []
    for job in _active(catalog, JobState.QUEUED):
        if job.dispatched_at is not None and job.id not in known \
                and _old(job.dispatched_at, SEND_GRACE_S):
            resend(settings, catalog, job, "no Redis queue held its message")
            resent.append(job.id)
    return resent


def _release_waiting(settings: FarmSettings, catalog: Catalog) -> list[str]:
    """Jobs whose inputs ended while nobody was there to send them on."""
    released = []
    for job in _active(catalog, JobState.QUEUED):
        if job.dispatched_at is None and job.hold is None and _old(job.created_at, SEND_GRACE_S):
            deps = catalog.dependencies(job.id)
            if all(d.state.is_terminal for d in deps):
                dispatch_if_ready(settings, catalog, job)  # sent, or failed with its input
                released.append(job.id)
    return released


def _requeue_orphans(settings: FarmSettings, catalog: Catalog, client: redis.Redis) -> list[str]:
    """Running jobs without a heartbeat on two looks, a heartbeat's lifetime apart. The job's
    history says whose runner vanished, and whether its whole host went with it."""
    keys = FarmKeys(settings.namespace)
    live_hosts: set[str] | None = None  # asked once a pass, and only when a job is re-queued
    requeued = []
    grace_s = settings.heartbeat_s * 3
    for state in (JobState.RUNNING, JobState.WAITING_GPU):
        for job in _active(catalog, state):
            suspect = keys.suspect(job.id, job.attempts)
            if client.exists(keys.job_alive(job.id)):
                client.delete(suspect)  # it beats again: the next gap starts a new count
                continue
            if not _old(job.started_at, grace_s):
                continue
            client.set(suspect, time.time(), nx=True, ex=int(grace_s * 10) + 60)
            if time.time() - float(client.get(suspect) or 0) < grace_s:  # type: ignore[arg-type]
                continue
            if live_hosts is None:
                live_hosts = {str(w.get("host")) for w in live_workers(settings, client)}
            lost = _lost(job, live_hosts)
            if catalog.transition(job.id, [state], JobState.QUEUED, attempt=job.attempts,
                                  message=f"runner vanished ({lost}); re-queued",
                                  reason=f"re-queued: {lost}"):
                resend(settings, catalog, catalog.get_job(job.id), "its runner vanished")
                requeued.append(job.id)
    return requeued


def _lost(job: JobRecord, live_hosts: set[str]) -> str:
    """What was lost with a vanished runner: its host, when no worker of it answers."""
    host = host_of(job.worker)
    if host is None:
        return "its worker stopped answering"
    if host not in live_hosts:
        return f"host {host} lost: none of its workers answers"
    return f"worker {job.worker} on host {host} stopped answering"
