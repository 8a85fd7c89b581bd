"""The reconciler: make Redis agree with the catalog again after a flush, restart or crash.

It re-sends ready jobs that no Redis queue holds, sends jobs whose inputs finished while no
one was there to send them, and re-queues jobs whose runner vanished. Every action is
conditional on the catalog, and a duplicate message is harmless (a delivery runs a job only
by claiming it), so running it often, or twice, is safe. One pass at a time, by a Redis lock.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from jobs.config import FarmSettings
from jobs.presence import job_alive_key
from jobs.submit import dispatch_if_ready, send_job
from jobs.views import queue_keys
from storage.catalog import Catalog
from storage.models import JobRecord, JobState

log = logging.getLogger(__name__)
SEND_GRACE_S = 5.0  # a message sent this recently may still be on its way
UNACKED_GRACE_S = 30.0  # a live worker claims what it was delivered well within this


def reconcile_once(settings: FarmSettings, catalog: Catalog, client: redis.Redis) -> dict[str, Any]:
    """One pass; returns what it did. Skips (returns {"skipped": True}) if another pass runs."""
    lock_key, token = f"{settings.namespace}:reconciler:lock", uuid.uuid4().hex
    if not client.set(lock_key, token, nx=True, px=60_000):
        return {"skipped": True}
    try:
        redeclare_queues()
        known = job_ids_in_redis(settings, client)
        report = {
            "resent": _resend_lost(catalog, known),
            "released": _release_waiting(catalog),
            "requeued": _requeue_orphans(settings, catalog, client),
        }
    finally:
        if client.get(lock_key) == token.encode():
            client.delete(lock_key)
    if any(report.values()):
        log.info("reconciler: %s", {k: len(v) for k, v in report.items()})
    return {"skipped": False, **report}


def redeclare_queues() -> None:
    """A flushed Redis forgets its exchange bindings, and a publish to them then vanishes."""
    from jobs.app import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in app.amqp.queues.values():
            queue(channel).declare()


def job_ids_in_redis(settings: FarmSettings, client: redis.Redis) -> set[str]:
    """Ids of jobs with a message waiting in a queue or delivered but not yet acknowledged."""
    from jobs.kinds import TAGS

    payloads: list[Any] = []
    for tag in TAGS:
        for key in queue_keys(settings, tag):
            payloads += client.lrange(key, 0, -1)  # type: ignore[operator]
    # A delivered message counts only while young: one held by a worker that died stays in
    # `unacked` until the visibility timeout, and its job would wait that long.
    fresh_after = time.time() - UNACKED_GRACE_S
    prefix = f"{settings.namespace}:"
    unacked: dict[Any, Any] = client.hgetall(prefix + "unacked")  # type: ignore[assignment]
    for tag, raw in unacked.items():
        delivered = client.zscore(prefix + "unacked_index", tag)
        if delivered is not None and delivered >= fresh_after:
            payloads.append(raw)
    found = set()
    for raw in payloads:
        message = json.loads(raw)
        if isinstance(message, list):  # unacked entries are [message, exchange, routing_key]
            message = message[0]
        task_id = str(message.get("headers", {}).get("id", ""))
        found.add(task_id.split(".", 1)[0])
    return found


def _old(moment: datetime | None, seconds: float) -> bool:
    if moment is None:
        return False
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC) - moment > timedelta(seconds=seconds)


def _active(catalog: Catalog, state: JobState) -> list[JobRecord]:
    return catalog.list_jobs(states=[state], limit=1_000_000)


def _resend_lost(catalog: Catalog, known: set[str]) -> list[str]:
    resent = []
    for job in _active(catalog, JobState.QUEUED):
        if job.dispatched_at is not None and job.id not in known \
                and _old(job.dispatched_at, SEND_GRACE_S):
            catalog.mark_dispatched(job.id)
            send_job(job)
            resent.append(job.id)
    return resent


def _release_waiting(catalog: Catalog) -> list[str]:
    """Jobs whose inputs ended while nobody was there to send them on."""
    released = []
    for job in _active(catalog, JobState.QUEUED):
        if job.dispatched_at is None and _old(job.created_at, SEND_GRACE_S):
            deps = catalog.dependencies(job.id)
            if all(d.state.is_terminal for d in deps) and dispatch_if_ready(catalog, job):
                released.append(job.id)
            elif any(d.state in (JobState.FAILED, JobState.CANCELLED) for d in deps):
                released.append(job.id)
    return released


def _requeue_orphans(settings: FarmSettings, catalog: Catalog, client: redis.Redis) -> list[str]:
    """Running jobs without a heartbeat on two looks, a heartbeat's lifetime apart."""
    requeued = []
    grace_s = settings.heartbeat_s * 3
    for state in (JobState.RUNNING, JobState.WAITING_GPU):
        for job in _active(catalog, state):
            if client.exists(job_alive_key(settings, job.id)) or not _old(job.started_at, grace_s):
                continue
            suspect = f"{settings.namespace}:suspect:{job.id}:{job.attempts}"
            client.set(suspect, time.time(), nx=True, ex=int(grace_s * 10) + 60)
            if time.time() - float(client.get(suspect) or 0) < grace_s:
                continue
            if catalog.transition(job.id, [state], JobState.QUEUED, attempt=job.attempts,
                                  message="runner vanished; re-queued",
                                  reason="re-queued: its worker stopped answering"):
                catalog.mark_dispatched(job.id)
                send_job(catalog.get_job(job.id))
                requeued.append(job.id)
    return requeued
