"""A worker's life in the farm: it announces itself in Redis (tags, pid, its host and the
host's devices: jobs.hosts) while it lives, so `farm status` and `farm hosts` can explain; it
runs the reconciler now and then; its processes commit their last job before they leave."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from typing import Any

from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from jobs.broker import redis_client
from jobs.config import FarmSettings, load_settings
from jobs.holds import release_held
from jobs.home import CLI_DB_RETRY_S, open_catalog
from jobs.hosts import announcement
from jobs.keys import FarmKeys
from jobs.reconcile import reconcile_once
from workers.settler import wait_for_settling
from workers.ticker import Duty, ticker

log = logging.getLogger(__name__)
_stop = threading.Event()
_announced: dict[str, Any] = {}
MAX_RECONCILE_BACKOFF_S = 60.0
RELEASE_EVERY_S = 1.0
# Held by the reconciler thread around each pass, and taken by a fork (Celery's pool starting
# a process) first: a child forked while that thread was inside SQLite or a connection pool
# would inherit their locks held, and hang on its first query.
_no_fork_inside = threading.Lock()
os.register_at_fork(before=_no_fork_inside.acquire, after_in_parent=_no_fork_inside.release,
                    after_in_child=_no_fork_inside.release)


def _settings_of(sender: Any) -> FarmSettings:
    settings: FarmSettings | None = getattr(getattr(sender, "app", None), "farm_settings", None)
    return settings or load_settings()


def _announce(sender: Any, settings: FarmSettings) -> None:
    client = redis_client(settings)
    key = FarmKeys(settings.namespace).worker(sender.hostname)
    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    started, ttl_ms = time.time(), int(settings.heartbeat_s * 3000)

    def announce() -> None:  # each beat says when it was (`farm hosts`: the last beat)
        value = announcement(settings, sender.hostname, os.getpid(), queues, started)
        client.set(key, json.dumps(value), px=ttl_ms)

    duty = ticker().every(settings.heartbeat_s, announce, "worker announcement", first_in_s=0)
    _announced.update(client=client, key=key, duty=duty)


def _withdraw() -> None:
    """The announcement goes with the worker, not three beats later."""
    if not _announced:
        return
    duty: Duty = _announced["duty"]
    ticker().cancel(duty)
    try:
        _announced["client"].delete(_announced["key"])
    except Exception as exc:  # Redis is gone: the key expires by itself
        log.warning("could not withdraw the worker's announcement: %s", exc)


def _reconcile_forever(settings: FarmSettings) -> None:
    """Every worker runs the reconciler now and then (a Redis lock lets one pass run at a
    time) and, every second, the release pass of held jobs (see jobs.holds). A failing pass
    (Redis or the catalog away) is logged and tried again later, with a growing pause; the
    worker never dies of it."""
    every = settings.reconcile_every_s
    pause, failures, due = RELEASE_EVERY_S, 0, 0.0
    while not _stop.wait(pause):
        try:
            with _no_fork_inside:  # a busy catalog holds a fork back at most CLI_DB_RETRY_S
                catalog, client = open_catalog(settings, CLI_DB_RETRY_S), redis_client(settings)
                release_held(settings, catalog, client)
                if time.monotonic() >= due:
                    reconcile_once(settings, catalog, client)
                    due = time.monotonic() + every
        except Exception as exc:
            failures += 1
            if failures == 1 or failures % 10 == 0:
                log.warning("reconciler pass failed (%s: %s); trying again", type(exc).__name__,
                            exc)
            pause = min(every * 2 ** failures, max(every, MAX_RECONCILE_BACKOFF_S))
            continue
        if failures:
            log.warning("reconciler works again after %d failed passes", failures)
        pause, failures = RELEASE_EVERY_S, 0


@worker_ready.connect
def on_worker_ready(sender: Any = None, **_: Any) -> None:
    settings = _settings_of(sender)
    _announce(sender, settings)
    threading.Thread(target=_reconcile_forever, args=(settings,), name="reconciler",
                     daemon=True).start()


@worker_shutdown.connect
def on_worker_shutdown(**_: Any) -> None:
    wait_for_settling()  # the solo pool runs jobs in this process
    _stop.set()
    _withdraw()


@worker_process_shutdown.connect
def on_process_shutdown(**_: Any) -> None:
    """A pool process leaving (warm shutdown, or its task limit) commits its last job first."""
    wait_for_settling()


@worker_process_init.connect
def on_process_init(**_: Any) -> None:
    # The thread caps were exported by `farm worker` before the fork and are inherited.
    # What the child inherited from the fork (imports, app) lives as long as the process:
    # out of the collector's sight, each collection scans only what jobs allocate.
    gc.freeze()
