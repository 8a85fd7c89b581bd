"""`farm catalog verify` and `farm catalog gc`: the store checked against the catalog."""

from __future__ import annotations

from typing import Any

from jobs.config import FarmSettings
from jobs.home import open_catalog, open_store


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
    """Blobs that no artifact references (left by refused commits or failed jobs)."""
    catalog, store = open_catalog(settings), open_store(settings)
    referenced = catalog.referenced_hashes()
    orphans = [sha for sha in store.iter_hashes() if sha not in referenced]
    freed = sum(store.path_for(sha).stat().st_size for sha in orphans)
    if delete:
        for sha in orphans:
            store.remove(sha)
    return {"orphans": orphans, "bytes": freed, "deleted": delete}
