"""Messages the farm could not read, set aside instead of dropped or choked on.

A queue entry that is no message of the farm's (not JSON, no task id), or a delivery naming
no job of the catalog, goes to `<ns>:dead` with where it was found and why; `farm doctor`
lists them. Nothing is taken out of them again: they are evidence, not work.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from jobs.config import FarmSettings
from jobs.keys import FarmKeys

log = logging.getLogger(__name__)
KEPT = 1000
SAMPLE_BYTES = 2048


def _record(where: str, why: str, raw: bytes) -> str:
    return json.dumps({"where": where, "why": why, "at": time.time(), "bytes": len(raw),
                       "sample": raw[:SAMPLE_BYTES].decode("utf-8", "backslashreplace")})


def set_aside_entry(client: redis.Redis, keys: FarmKeys, queue: str, raw: bytes, why: str) -> None:
    """Move one unreadable entry from a queue list to the dead letters, in one transaction."""
    pipe = client.pipeline(transaction=True)
    pipe.lrem(queue, 1, raw)  # type: ignore[arg-type]
    pipe.rpush(keys.dead_letters, _record(queue, why, raw))
    pipe.ltrim(keys.dead_letters, -KEPT, -1)
    pipe.execute()
    log.error("set aside an unreadable message from %s (%s); `farm doctor` lists it", queue, why)


def set_aside_delivery(settings: FarmSettings, client: redis.Redis, where: str, message: str,
                       why: str) -> None:
    """Record a message a worker was handed but cannot run: it names no job of the catalog,
    or it is no task message at all (it is acknowledged after, so it is not handed again)."""
    keys = FarmKeys(settings.namespace)
    pipe = client.pipeline(transaction=True)
    pipe.rpush(keys.dead_letters, _record(where, why, message.encode()))
    pipe.ltrim(keys.dead_letters, -KEPT, -1)
    pipe.execute()
    log.error("set aside a message from %s (%s); `farm doctor` lists it", where, why)


def dead_letters(settings: FarmSettings, client: redis.Redis) -> list[dict[str, Any]]:
    """The messages set aside, oldest first."""
    found = []
    for raw in client.lrange(FarmKeys(settings.namespace).dead_letters, 0, -1):  # type: ignore[union-attr]
        try:
            found.append(json.loads(raw))
        except ValueError:
            found.append({"why": "unreadable record", "sample": repr(raw[:200])})
    return found
