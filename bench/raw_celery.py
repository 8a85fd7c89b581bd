"""The baseline for bench.dispatch: a bare Celery app with one no-op task, same Redis, same
delivery settings as the farm (JSON, acks_late, prefetch 1, events), no catalog and no store.

With RAW_FARM_LAYOUT=1 its Redis queues are laid out as the farm's are (ten priority
sub-queues); otherwise Celery's default layout (four). The task records when it finished in
a Redis hash so the benchmark can time each one.
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

import redis
from celery import Celery, Task
from kombu import Exchange, Queue

DONE_KEY = "rawbench:done"
BROKER_URL = os.environ.get("RAW_BROKER_URL", "redis://127.0.0.1:6379/0")

transport: dict[str, Any] = {"global_keyprefix": "rawbench:"}
if os.environ.get("RAW_FARM_LAYOUT") == "1":
    transport.update({"priority_steps": list(range(10)), "queue_order_strategy": "priority",
                      "sep": ":"})

raw = Celery("raw_bench", broker=BROKER_URL)
raw.conf.update(
    task_serializer="json", accept_content=["json"], task_ignore_result=True,
    task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
    worker_send_task_events=True, task_send_sent_event=True,
    broker_transport_options=transport,
    task_queues=[Queue("raw", Exchange("raw", type="direct"), routing_key="raw")],
    task_default_queue="raw",
)


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(os.environ.get("RAW_REDIS_URL", BROKER_URL))


@raw.task(name="rawbench.noop", bind=True)
def noop(self: Task) -> None:
    _client().hset(DONE_KEY, str(self.request.id), time.time())
