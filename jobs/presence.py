"""Who is alive, as seen in Redis: workers that announce themselves and jobs that heartbeat."""

from __future__ import annotations

import json
import socket
from typing import Any

import redis

from jobs.config import FarmSettings


def worker_key(settings: FarmSettings, nodename: str) -> str:
    return f"{settings.namespace}:worker:{nodename}"


def job_alive_key(settings: FarmSettings, job_id: str) -> str:
    return f"{settings.namespace}:job:{job_id}:alive"


def cancel_key(settings: FarmSettings, job_id: str) -> str:
    return f"{settings.namespace}:cancel:{job_id}"


def live_workers(settings: FarmSettings, client: redis.Redis) -> list[dict[str, Any]]:
    """Workers whose announcement has not expired: nodename, pid, tags, host."""
    found = []
    for key in client.scan_iter(match=f"{settings.namespace}:worker:*", count=200):
        raw = client.get(key)
        if raw:
            found.append(json.loads(raw))
    return sorted(found, key=lambda w: str(w.get("nodename")))


def job_heartbeat(settings: FarmSettings, client: redis.Redis, job_id: str) -> dict[str, Any] | None:
    raw = client.get(job_alive_key(settings, job_id))
    return json.loads(raw) if raw else None


def this_host() -> str:
    return socket.gethostname()
