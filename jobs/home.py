"""Where the farm's state lives: FARM_HOME, its catalog and its blob store."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.config import FarmSettings
from jobs.errors import FarmHomeUnwritable
from storage.catalog import Catalog
from storage.store import BlobStore

_writable: set[tuple[int, Path]] = set()


def ensure_home(settings: FarmSettings) -> Path:
    """Create FARM_HOME and check that it is writable (once per process)."""
    home = settings.home_dir
    if (os.getpid(), home) in _writable:
        return home
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise FarmHomeUnwritable(
            f"FARM_HOME {home} is not writable ({exc.strerror or exc}); "
            "set FARM_HOME to a folder you own"
        ) from exc
    _writable.add((os.getpid(), home))
    return home


_catalogs: dict[tuple[int, str], Catalog] = {}


def open_catalog(settings: FarmSettings) -> Catalog:
    """The catalog at the configured URL, opened once per process (one engine, one pool)."""
    key = (os.getpid(), settings.catalog_url)
    if key not in _catalogs:
        if settings.db_url is None:
            ensure_home(settings)
        _catalogs[key] = Catalog(settings.catalog_url)
    return _catalogs[key]


def open_store(settings: FarmSettings) -> BlobStore:
    return BlobStore(settings.store_dir)
