"""Who is alive, as seen in Redis: workers that announce themselves and jobs that heartbeat."""

from __future__ import annotations

import json
from typing import Any

import redis

from jobs.config import FarmSettings
from jobs.keys import FarmKeys


def live_workers(settings: FarmSettings, client: redis.Redis) -> list[dict[str, Any]]:
    """Workers whose announcement has not expired: nodename, pid, tags, host."""
    found = []
    for key in client.scan_iter(match=FarmKeys(settings.namespace).worker_pattern, count=200):
        raw = client.get(key)
        try:
            found.append(json.loads(raw)) if raw else None
        except ValueError:  # not written by a worker of ours: not a worker
            continue
    return sorted(found, key=lambda w: str(w.get("nodename")))


def job_heartbeat(settings: FarmSettings, client: redis.Redis, job_id: str) -> dict[str, Any] | None:
    raw = client.get(FarmKeys(settings.namespace).job_alive(job_id))
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def blocked_workers(settings: FarmSettings, client: redis.Redis) -> dict[str, dict[str, str]]:
    """{worker: {kind: why}} for every live worker that stopped taking a kind after failing it
    in a row (see workers.failures); a worker gone takes its blocklist with it."""
    keys = FarmKeys(settings.namespace)
    found: dict[str, dict[str, str]] = {}
    for key in client.scan_iter(match=keys.blocked("*")):
        name = (key.decode() if isinstance(key, bytes) else key).removeprefix(keys.blocked(""))
        raw: dict[Any, Any] = client.hgetall(key)  # type: ignore[assignment]
        found[name] = {(k.decode() if isinstance(k, bytes) else k): json.loads(v)["why"]
                       for k, v in raw.items()}
    live = {str(w.get("nodename")) for w in live_workers(settings, client)}
    return {name: kinds for name, kinds in found.items() if kinds and name in live}
