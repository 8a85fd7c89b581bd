"""A worker announces itself in Redis (tags, pid) while it lives, so `farm status` can explain."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from typing import Any

import redis
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from jobs.broker import redis_client
from jobs.config import apply_thread_caps, load_settings
from jobs.home import open_catalog
from jobs.presence import this_host, worker_key
from jobs.reconcile import reconcile_once
from workers.settler import wait_for_settling

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


def _reconcile_forever() -> None:
    """Every worker runs the reconciler now and then; a Redis lock lets one pass run at a time."""
    settings = load_settings()
    client = redis_client(settings)
    catalog = open_catalog(settings)
    while not _stop.wait(settings.reconcile_every_s):
        try:
            reconcile_once(settings, catalog, client)
        except Exception:  # the next pass tries again; a worker must not die of it
            log.exception("reconciler pass failed")


@worker_ready.connect
def on_worker_ready(sender: Any = None, **_: Any) -> None:
    _announce(sender)
    threading.Thread(target=_reconcile_forever, name="reconciler", daemon=True).start()


@worker_shutdown.connect
def on_worker_shutdown(**_: Any) -> None:
    wait_for_settling()  # the solo pool runs jobs in this process
    _stop.set()
    time.sleep(0.1)


@worker_process_shutdown.connect
def on_process_shutdown(**_: Any) -> None:
    """A pool process leaving (warm shutdown, or its task limit) commits its last job first."""
    wait_for_settling()


@worker_process_init.connect
def on_process_init(**_: Any) -> None:
    apply_thread_caps(load_settings())
    # What the child inherited from the fork (imports, app) lives as long as the process:
    # out of the collector's sight, each collection scans only what jobs allocate.
    gc.freeze()
