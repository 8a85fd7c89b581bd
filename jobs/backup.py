"""`farm catalog backup`: a consistent copy of a SQLite catalog, taken while the farm runs.

SQLite's online backup copies the database page by page under its own locks, so a backup is
whole even while workers write. Backups live in FARM_HOME/backups (0600); the newest few are
kept. A PostgreSQL catalog is backed up with PostgreSQL's own tools.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from jobs.config import FarmSettings
from jobs.errors import BadJobSpec
from storage.errors import CatalogUnavailable
from storage.urls import sqlite_path

KEPT = 5


def backups_dir(settings: FarmSettings) -> Path:
    return settings.home_dir / "backups"


def latest_backup(settings: FarmSettings) -> Path | None:
    found = sorted(backups_dir(settings).glob("catalog-*.db")) if backups_dir(settings).is_dir() else []
    return found[-1] if found else None


def backup_catalog(settings: FarmSettings, dest: Path | None = None) -> Path:
    """Copy the catalog to `dest` (default: a new file in FARM_HOME/backups)."""
    source = sqlite_path(settings.catalog_url)
    if source is None:
        raise BadJobSpec("this catalog is PostgreSQL: back it up with pg_dump")
    if not source.exists():
        raise CatalogUnavailable(f"no catalog at {source} yet: nothing to back up")
    folder = backups_dir(settings)
    if dest is None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        dest = folder / f"catalog-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.db"
    if dest.exists():
        raise BadJobSpec(f"{dest} exists already; name a new file")
    partial = dest.with_name(f".{dest.name}.part")
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as live, \
                sqlite3.connect(partial) as copy:
            live.backup(copy)
        partial.rename(dest)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise CatalogUnavailable(f"backup of {source} failed: {exc}") from exc
    for old in sorted(folder.glob("catalog-*.db"))[:-KEPT] if dest.parent == folder else []:
        old.unlink(missing_ok=True)
    return dest
