"""Where the farm's state lives: FARM_HOME (private to its user), its catalog and blob store."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.config import FarmSettings
from jobs.errors import FarmHomeUnwritable

if TYPE_CHECKING:
    from storage.catalog import Catalog
    from storage.reader import CatalogReader
    from storage.store import BlobStore

# A command someone waits for gives up on a busy catalog sooner than a worker does.
CLI_DB_RETRY_S = 10.0
PRIVATE_MODE = 0o700

_writable: set[tuple[int, Path]] = set()


def ensure_home(settings: FarmSettings) -> Path:
    """Create FARM_HOME (0700) and check that it is writable (once per process). A home that
    others may read is tightened: it holds the catalog, the queue's data and the logs."""
    home = settings.home_dir
    if (os.getpid(), home) in _writable:
        return home
    try:
        home.mkdir(mode=PRIVATE_MODE, parents=True, exist_ok=True)
        if stat.S_IMODE(home.stat().st_mode) & 0o077 and home.stat().st_uid == os.getuid():
            os.chmod(home, PRIVATE_MODE)
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


_catalogs: dict[tuple[int, str, float], Catalog] = {}


def open_catalog(settings: FarmSettings, retry_s: float | None = None) -> Catalog:
    """The catalog at the configured URL, opened once per process (one engine, one pool).
    A busy database is waited for up to `retry_s` (default: the settings' db_retry_s). Each
    event it records is announced on Redis (jobs.notify), for the API's live streams."""
    from jobs.notify import EventNotifier
    from storage.catalog import Catalog

    patience = settings.db_retry_s if retry_s is None else retry_s
    key = (os.getpid(), settings.catalog_url, patience)
    if key not in _catalogs:
        if settings.db_url is None:
            ensure_home(settings)
        catalog = Catalog(settings.catalog_url, settings.db_busy_timeout_s, patience)
        catalog.on_event = EventNotifier(settings)
        _catalogs[key] = catalog
    return _catalogs[key]


def open_reader(settings: FarmSettings) -> CatalogReader:
    """The catalog for reading only, without the database toolkit: what the CLI's quick
    commands (status, ls, wait, artifacts) use."""
    from storage.reader import CatalogReader

    return CatalogReader(settings.catalog_url)


def open_store(settings: FarmSettings) -> BlobStore:
    from storage.store import BlobStore

    return BlobStore(settings.store_dir)
