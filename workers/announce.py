"""A worker announces itself in Redis (tags, pid) while it lives, so `farm status` can explain."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import redis
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from jobs.broker import redis_client
from jobs.config import apply_thread_caps, load_settings
from jobs.presence import this_host, worker_key

log = logging.getLogger(__name__)
_stop = threading.Event()


def _announce(sender: Any) -> None:
    settings = load_settings()
    client = redis_client(settings)
    nodename = sender.hostname
    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    key = worker_key(settings, nodename)
    value = json.dumps({"nodename": nodename, "pid": os.getpid(), "host": this_host(),
                        "tags": queues, "started": time.time()})
    ttl_ms = int(settings.heartbeat_s * 3000)

    def beat() -> None:
        while True:
            try:
                client.set(key, value, px=ttl_ms)
            except redis.RedisError as exc:
                log.warning("worker announcement failed: %s", exc)
            if _stop.wait(settings.heartbeat_s):
                break
        try:
            client.delete(key)
        except redis.RedisError:
            pass

    threading.Thread(target=beat, name="announce", daemon=True).start()


@worker_ready.connect
def on_worker_ready(sender: Any = None, **_: Any) -> None:
    _announce(sender)


@worker_shutdown.connect
def on_worker_shutdown(**_: Any) -> None:
    _stop.set()
    time.sleep(0.1)


@worker_process_init.connect
def on_process_init(**_: Any) -> None:
    apply_thread_caps(load_settings())
