"""`farm catalog verify` and `farm catalog gc`: the store checked against the catalog."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jobs.config import FarmSettings
from jobs.home import open_catalog, open_store

# A blob write and its commit take seconds; an unreferenced file this old lost its writer.
LEFTOVER_AGE_S = 3600.0


def verify_store(settings: FarmSettings) -> dict[str, Any]:
    """Re-hash every blob an artifact references; report the missing and the corrupt."""
    catalog, store = open_catalog(settings), open_store(settings)
    problems = []
    hashes = sorted(catalog.referenced_hashes())
    for sha in hashes:
        if (why := store.verify(sha)) is not None:
            for artifact in catalog.artifact_by_sha(sha):
                problems.append({"sha256": sha, "problem": why, "job_id": artifact.job_id,
                                 "name": artifact.name, "path": str(store.path_for(sha))})
    return {"checked": len(hashes), "problems": problems}


def collect_garbage(settings: FarmSettings, delete: bool) -> dict[str, Any]:
    """Blobs that no artifact references (left by refused commits or failed jobs), and the
    temporary files of blob writers killed mid-write; both only when older than
    LEFTOVER_AGE_S, as a younger one may belong to a job still committing."""
    catalog, store = open_catalog(settings), open_store(settings)
    referenced = catalog.referenced_hashes()
    # A blob written moments ago may belong to a job that has not committed yet.
    orphans = [sha for sha in store.iter_hashes()
               if sha not in referenced and _age_s(store.path_for(sha)) > LEFTOVER_AGE_S]
    leftovers = list(store.iter_leftovers(LEFTOVER_AGE_S))
    freed = sum(_size(path) for path in [store.path_for(sha) for sha in orphans] + leftovers)
    if delete:
        for sha in orphans:
            store.remove(sha)
        for path in leftovers:
            path.unlink(missing_ok=True)
    return {"orphans": orphans, "leftovers": [str(p) for p in leftovers], "bytes": freed,
            "deleted": delete}


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _size(path: Path) -> int:
    """Its size, or 0 when it went away since the listing (another gc, a finished write)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
