"""Heavy state per worker process, made once after the fork: settings, catalog, store, Redis."""

from __future__ import annotations

import os
from dataclasses import dataclass

import redis

from jobs.broker import redis_client
from jobs.config import FarmSettings, load_settings
from jobs.home import open_catalog, open_store
from storage.catalog import Catalog
from storage.store import BlobStore


@dataclass
class ProcessContext:
    pid: int
    settings: FarmSettings
    catalog: Catalog
    store: BlobStore
    redis: redis.Redis


_current: ProcessContext | None = None


def process_context(settings: FarmSettings | None = None) -> ProcessContext:
    """This process's context, from the settings its worker was started with (else read
    afresh); a forked child never reuses its parent's connections."""
    global _current
    if _current is None or _current.pid != os.getpid():
        settings = settings or load_settings()
        _current = ProcessContext(
            pid=os.getpid(), settings=settings, catalog=open_catalog(settings),
            store=open_store(settings), redis=redis_client(settings),
        )
    return _current
