"""Reading a GPU's lease and its line of waiters out of Redis, for `farm gpu` and reasons.

The lease itself (taking, renewing, releasing) lives in `workers/gpu.py`; this is the
read side, which the CLI needs without importing anything of the workers.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from jobs.keys import FarmKeys, GpuKeys, decoded

PRIORITY_SPAN = 10**13  # larger than any millisecond timestamp, so priority sorts first


def wait_score(priority: int, place_ms: int) -> int:
    """The line's order: higher priority first, then the earlier place in line."""
    return (9 - priority) * PRIORITY_SPAN + place_ms


def rescore_waiter(client: redis.Redis, keys: GpuKeys, job_id: str, priority: int,
                   place_ms: int) -> bool:
    """A waiting job re-ordered by the user keeps its new place in the device's line."""
    return bool(client.zadd(keys.waiters, {job_id: wait_score(priority, place_ms)}, xx=True,
                            ch=True))


def read_holder(client: redis.Redis, keys: GpuKeys) -> dict[str, Any] | None:
    raw = client.get(keys.lease)
    if not raw:
        return None
    held: dict[str, Any] = json.loads(raw)
    held["expires_in_ms"] = int(client.pttl(keys.lease))  # type: ignore[arg-type]
    return held


def read_line(client: redis.Redis, keys: GpuKeys, start: int = 0, end: int = -1) -> list[str]:
    members: list[Any] = client.zrange(keys.waiters, start, end)  # type: ignore[assignment]
    return decoded(members)


def read_waiters(client: redis.Redis, keys: GpuKeys) -> list[dict[str, Any]]:
    """Waiters in the order they will be served; dead ones (expired info) are left out."""
    names = read_line(client, keys)
    infos = client.mget([keys.waiter_prefix + n for n in names]) if names else []
    return [json.loads(raw) for raw in infos if raw]  # type: ignore[union-attr]


def explain_gpu_wait(client: redis.Redis, keys: GpuKeys, device: str, job_id: str) -> str:
    """One line: who holds the device and how many wait ahead of `job_id`."""
    line = [w["job_id"] for w in read_waiters(client, keys)]
    ahead = line.index(job_id) if job_id in line else len(line)
    held = read_holder(client, keys)
    if held is None:
        who = "free"
    else:
        state = "idle, model resident" if held.get("idle") else held.get("kind", "?")
        who = f"held by job {held['job_id'][:8]} ({state}, {held.get('model') or '-'})"
    return f"{device} {who}, {ahead} waiting ahead"


def read_events(client: redis.Redis, keys: GpuKeys, count: int = 1000) -> list[dict[str, Any]]:
    """Recent lease events, oldest first: {"event": "grant"|"release", "job_id", "token", "t"}."""
    raw: list[Any] = client.lrange(keys.events, 0, count - 1)  # type: ignore[assignment]
    return [json.loads(r) for r in reversed(raw)]


def gpu_report(client: redis.Redis, namespace: str, devices: dict[str, int]) -> list[dict[str, Any]]:
    """Per device: its VRAM, the holder (resident model when idle) and the waiters."""
    report = []
    for device, vram_mb in devices.items():
        keys = FarmKeys(namespace).gpu(device)
        report.append({"device": device, "vram_mb": vram_mb,
                       "holder": read_holder(client, keys),
                       "waiting": read_waiters(client, keys)})
    return report
