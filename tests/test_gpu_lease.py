"""The GPU lease in Redis: exclusive, fenced, fair, explained, and lost by holders that die."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
import redis

from workers.errors import LeaseLost
from workers.gpu import GpuLease

TTL_S, WINDOW_S = 1.5, 0.3  # the aging window well inside a waiter's time to live


@pytest.fixture
def lease_api(redis_url: str) -> GpuLease:
    client = redis.Redis.from_url(redis_url)
    return GpuLease(client, f"t{uuid.uuid4().hex[:8]}", "gpu0", ttl_s=TTL_S,
                    affinity_window_s=WINDOW_S)


def until(condition: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def join(api: GpuLease, job: str, priority: int = 5, created_ms: int = 0,
         worker: str = "w", model: str = "m") -> None:
    api.enqueue(job, priority, created_ms, {"worker": worker, "model": model, "kind": "probe"})


def test_only_one_holder_and_tokens_only_grow(lease_api: GpuLease) -> None:
    join(lease_api, "a", created_ms=1)
    join(lease_api, "b", created_ms=2)
    first = lease_api.try_acquire("a", "w1", 1, "m", "probe")
    assert first is not None
    assert lease_api.try_acquire("b", "w2", 2, "m", "probe") is None
    assert lease_api.release(first)
    second = lease_api.try_acquire("b", "w2", 2, "m", "probe")
    assert second is not None and second.token > first.token
    assert not lease_api.release(first)  # an old token cannot release the new holder
    assert lease_api.holder()["job_id"] == "b"


def test_waiting_order_is_priority_then_submit_time(lease_api: GpuLease) -> None:
    join(lease_api, "old-low", priority=2, created_ms=1)
    join(lease_api, "new-high", priority=8, created_ms=5)
    join(lease_api, "old-high", priority=8, created_ms=3)
    order = []
    for _ in range(3):
        for job in ("old-low", "new-high", "old-high"):
            if job not in order and (lease := lease_api.try_acquire(job, "w", 1, "m", "probe")):
                order.append(job)
                lease_api.release(lease)
                break
    assert order == ["old-high", "new-high", "old-low"]


def test_a_holder_that_stops_renewing_loses_the_lease(lease_api: GpuLease) -> None:
    join(lease_api, "a")
    held = lease_api.try_acquire("a", "w1", 1, "m", "probe")
    assert held is not None
    lease_api.renew(held)
    until(lambda: not lease_api.client.exists(lease_api.lease_key), 3 * TTL_S,
          "the lease outlived its time to live")
    with pytest.raises(LeaseLost):
        lease_api.renew(held)
    join(lease_api, "b")
    assert lease_api.try_acquire("b", "w2", 2, "m", "probe") is not None


def test_dead_waiters_do_not_block_the_line(lease_api: GpuLease) -> None:
    join(lease_api, "ghost", created_ms=1)
    join(lease_api, "live", created_ms=2)
    # Neither renews; when both have expired only "live" comes back.
    until(lambda: not lease_api.client.exists(lease_api.waiter_prefix + "ghost"), 3 * TTL_S,
          "a waiter outlived its time to live")
    join(lease_api, "live", created_ms=2)
    assert lease_api.try_acquire("live", "w", 1, "m", "probe") is not None


def test_wait_reason_names_the_holder_and_the_line(lease_api: GpuLease) -> None:
    join(lease_api, "7f3a0000", created_ms=1, model="sd15")
    held = lease_api.try_acquire("7f3a0000", "w1", 1, "sd15", "image")
    join(lease_api, "b", created_ms=2)
    join(lease_api, "c", created_ms=3)
    assert held is not None
    assert lease_api.explain("c") == "gpu0 held by job 7f3a0000 (image, sd15), 1 waiting ahead"


def test_idle_holders_next_job_may_go_first_only_within_the_aging_window(
        lease_api: GpuLease) -> None:
    join(lease_api, "mine-1", created_ms=1, worker="A")
    held = lease_api.try_acquire("mine-1", "A", 1, "m", "probe")
    assert held is not None
    lease_api.renew(held, idle=True)
    join(lease_api, "theirs", created_ms=2, worker="B", model="other")
    join(lease_api, "mine-2", created_ms=3, worker="A")
    again = lease_api.try_acquire("mine-2", "A", 1, "m", "probe")
    assert again is not None  # jumped the line: model resident, "theirs" waited briefly
    lease_api.renew(again, idle=True)
    since_ms = json.loads(lease_api.client.get(lease_api.waiter_prefix + "theirs"))["since_ms"]
    until(lambda: time.time() * 1000 - since_ms > WINDOW_S * 1000 + 50, 2 * WINDOW_S,
          "the clock stood still")
    join(lease_api, "theirs", created_ms=2, worker="B", model="other")
    join(lease_api, "mine-3", created_ms=4, worker="A")
    assert lease_api.try_acquire("mine-3", "A", 1, "m", "probe") is None  # aged: no jumping
