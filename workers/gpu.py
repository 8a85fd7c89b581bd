"""The exclusive GPU lease: one holder per device, fencing tokens, fair and explained waiting.

All of it lives in Redis so every worker on every machine sees the same device: the lease,
a fencing-token counter, the line of waiters and their wake-up lists (`jobs.keys.GpuKeys`
names them; `jobs.gpu_state` reads them for the CLI).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from jobs.gpu_state import PRIORITY_SPAN, explain_gpu_wait, read_holder, read_waiters, wait_score
from jobs.keys import FarmKeys
from workers.errors import LeaseLost

_EVENTS_KEPT = 1000

_ACQUIRE = """
local lease, token_key, waiters = KEYS[1], KEYS[2], KEYS[3]
local job, ttl, prefix, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local window, holder = tonumber(ARGV[5]), ARGV[6]
local current = redis.call('GET', lease)
if current then
  -- Only this same process's idle lease may be taken over; never a live or dead holder's.
  local held = cjson.decode(current)
  if not (held.idle and held.worker == cjson.decode(holder).worker) then return 0 end
end
local head = nil
for _, member in ipairs(redis.call('ZRANGE', waiters, 0, -1)) do
  if redis.call('EXISTS', prefix .. member) == 1 then head = member break end
  redis.call('ZREM', waiters, member)
end
if head and head ~= job then
  -- Affinity: the idle holder's own next job may go first while the head has waited
  -- less than the aging window and is of the same priority.
  if not current then return 0 end
  local mine = redis.call('ZSCORE', waiters, job)
  local first = redis.call('ZSCORE', waiters, head)
  local span = tonumber(ARGV[7])
  if not mine or math.floor(tonumber(mine) / span) ~= math.floor(tonumber(first) / span) then
    return 0
  end
  local info = cjson.decode(redis.call('GET', prefix .. head))
  if now - info.since_ms > window then return 0 end
end
local token = redis.call('INCR', token_key)
local record = cjson.decode(holder)
record.token = token
record.since_ms = now
redis.call('SET', lease, cjson.encode(record), 'PX', ttl)
redis.call('ZREM', waiters, job)
redis.call('DEL', prefix .. job)
return token
"""

_FLOOR = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""

_RENEW = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local held = cjson.decode(current)
if held.token ~= tonumber(ARGV[1]) then return 0 end
if ARGV[3] ~= '' then
  held.idle = (ARGV[3] == 'idle')
  redis.call('SET', KEYS[1], cjson.encode(held), 'PX', tonumber(ARGV[2]))
else
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""

_RELEASE = """
local current = redis.call('GET', KEYS[1])
local released = 0
if current and cjson.decode(current).token == tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  released = 1
end
-- Wake the first live waiter so the hand-over does not wait for its next poll.
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[2] .. member) == 1 then
    redis.call('RPUSH', ARGV[3] .. member, '1')
    redis.call('PEXPIRE', ARGV[3] .. member, tonumber(ARGV[4]))
    break
  end
end
return released
"""


@dataclass(frozen=True)
class Lease:
    device: str
    job_id: str
    token: int
    worker: str
    model: str | None


class GpuLease:
    """The lease on one device. Safe to use from many processes and machines at once."""

    def __init__(self, client: redis.Redis, namespace: str, device: str, ttl_s: float = 30.0,
                 affinity_window_s: float = 60.0) -> None:
        self.client = client
        self.device = device
        self.ttl_ms = int(ttl_s * 1000)
        self.window_ms = int(affinity_window_s * 1000)
        self.keys = FarmKeys(namespace).gpu(device)
        self.lease_key, self.token_key = self.keys.lease, self.keys.token
        self.waiters_key, self.waiter_prefix = self.keys.waiters, self.keys.waiter_prefix
        self.wake_prefix = self.keys.wake_prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._floor = client.register_script(_FLOOR)

    # waiting -------------------------------------------------------------------

    def enqueue(self, job_id: str, priority: int, place_ms: int, info: dict[str, Any]) -> None:
        """Join (or stay in) the line for this device; call again to stay alive in it."""
        record = {**info, "job_id": job_id, "priority": priority}
        existing = self.client.get(self.waiter_prefix + job_id)
        record["since_ms"] = json.loads(existing)["since_ms"] if existing else _now_ms()
        pipe = self.client.pipeline()
        pipe.zadd(self.waiters_key, {job_id: wait_score(priority, place_ms)}, nx=True)
        pipe.set(self.waiter_prefix + job_id, json.dumps(record), px=self.ttl_ms)
        pipe.execute()

    def leave(self, job_id: str) -> None:
        pipe = self.client.pipeline()
        pipe.zrem(self.waiters_key, job_id)
        pipe.delete(self.waiter_prefix + job_id, self.wake_prefix + job_id)
        pipe.execute()

    def ensure_token_above(self, fence: int) -> None:
        """After Redis lost its data the counter restarts at 0; grants must outrank the catalog."""
        self._floor(keys=[self.token_key], args=[fence])

    def try_acquire(self, job_id: str, worker: str, pid: int, model: str | None,
                    kind: str) -> Lease | None:
        holder = json.dumps({"job_id": job_id, "worker": worker, "pid": pid, "model": model,
                             "kind": kind, "idle": False})
        token = int(self._acquire(
            keys=[self.lease_key, self.token_key, self.waiters_key],
            args=[job_id, self.ttl_ms, self.waiter_prefix, _now_ms(), self.window_ms, holder,
                  PRIORITY_SPAN],
        ))
        if not token:
            return None
        self._log("grant", job_id, token)
        return Lease(self.device, job_id, token, worker, model)

    def _log(self, event: str, job_id: str, token: int, at: float | None = None) -> None:
        record = json.dumps({"event": event, "job_id": job_id, "token": token,
                             "t": at if at is not None else time.time()})
        pipe = self.client.pipeline()
        pipe.lpush(self.keys.events, record)
        pipe.ltrim(self.keys.events, 0, _EVENTS_KEPT - 1)
        pipe.execute()

    def wait_for_wake(self, job_id: str, timeout_s: float) -> None:
        """Sleep until a releaser wakes this waiter, or the timeout passes."""
        self.client.blpop([self.wake_prefix + job_id], timeout=timeout_s)

    # holding -------------------------------------------------------------------

    def renew(self, lease: Lease, idle: bool | None = None) -> None:
        """Extend the lease; LeaseLost if it expired or another holder has it now."""
        state = "" if idle is None else ("idle" if idle else "busy")
        if not int(self._renew(keys=[self.lease_key], args=[lease.token, self.ttl_ms, state])):
            raise LeaseLost(f"lease on {self.device} (token {lease.token}) was lost")

    def release(self, lease: Lease) -> bool:
        """Give the device up and wake the next waiter; False if it was no longer ours."""
        at = time.time()
        released = bool(int(self._release(
            keys=[self.lease_key, self.waiters_key],
            args=[lease.token, self.waiter_prefix, self.wake_prefix, self.ttl_ms],
        )))
        if released:
            self._log("release", lease.job_id, lease.token, at)
        return released

    # reading -------------------------------------------------------------------

    def holder(self) -> dict[str, Any] | None:
        return read_holder(self.client, self.keys)

    def waiters(self) -> list[dict[str, Any]]:
        return read_waiters(self.client, self.keys)

    def explain(self, job_id: str) -> str:
        """One line on why `job_id` waits: who holds the device and how many are ahead."""
        return explain_gpu_wait(self.client, self.keys, self.device, job_id)


def _now_ms() -> int:
    return int(time.time() * 1000)
