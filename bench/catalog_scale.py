"""Catalog at scale: `farm ls --limit 50` and artifact lookup by sha256 on a catalog of
100,000 jobs and 300,000 artifacts, on SQLite and on PostgreSQL, against the same queries on
a catalog of 1,000 jobs measured in the same run (the ratio shows how they scale).

Targets: ls < 200 ms, sha256 lookup < 5 ms (in-process query time, median of repeats). The
wall time of a whole `farm ls` process (Python start, imports) is printed beside it.

    python -m bench.catalog_scale [--jobs 100000] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness import REPO, percentile
from storage.catalog import Catalog
from storage.models import ArtifactRecord, JobRecord, JobState

STATES = [JobState.SUCCEEDED] * 8 + [JobState.FAILED, JobState.QUEUED]
KINDS = ("midi", "midi", "intent", "probe")
BATCH = 5000


def populate(catalog: Catalog, jobs: int, seed: int = 1) -> list[str]:
    """Bulk-insert `jobs` jobs with three artifacts each; returns a sample of artifact hashes."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hashes: list[str] = []
    last = ""
    for offset in range(0, jobs, BATCH):
        job_rows, art_rows = [], []
        for n in range(offset, min(jobs, offset + BATCH)):
            job_id = uuid.UUID(int=rng.getrandbits(128)).hex
            job_rows.append(dict(
                id=job_id, kind=rng.choice(KINDS), tag="midi", state=rng.choice(STATES),
                params_json='{"params": {}}', seed=n, priority=5, project="default",
                created_at=start + timedelta(seconds=n), attempts=1, progress=1.0))
            for name in ("music.mid", "music.music.json", "report.json"):
                sha = f"{rng.getrandbits(256):064x}"
                art_rows.append(dict(id=uuid.UUID(int=rng.getrandbits(128)).hex, job_id=job_id,
                                     attempt=1, name=name, sha256=sha, media_type="audio/midi",
                                     bytes=1000, created_at=start + timedelta(seconds=n)))
                last = sha
                if rng.random() < 0.001:
                    hashes.append(sha)
        with catalog.engine.begin() as conn:
            conn.execute(JobRecord.__table__.insert(), job_rows)  # type: ignore[attr-defined]
            conn.execute(ArtifactRecord.__table__.insert(), art_rows)  # type: ignore[attr-defined]
    return hashes or [last]


def timed_ms(work: Callable[[], object], repeats: int = 30) -> tuple[float, float]:
    work()  # warm the connection pool and caches, as a running farm has them
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 0.95)


def measure(url: str, jobs: int) -> dict[str, tuple[float, float]]:
    catalog = Catalog(url)
    hashes = populate(catalog, jobs)
    with catalog.engine.begin() as conn:  # fresh planner statistics, as autovacuum would give
        conn.exec_driver_sql("ANALYZE")
    shas = iter(hashes * 100)
    out = {
        "ls --limit 50": timed_ms(lambda: catalog.list_jobs(limit=50)),
        "ls --state FAILED": timed_ms(lambda: catalog.list_jobs([JobState.FAILED], limit=50)),
        "ls --kind intent": timed_ms(lambda: catalog.list_jobs(kinds=["intent"], limit=50)),
        "artifact by sha256": timed_ms(lambda: catalog.artifact_by_sha(next(shas))),
        "farm ls process": timed_ms(lambda: _farm_ls(url), repeats=5),
    }
    catalog.close()
    return out


def _farm_ls(url: str) -> None:
    env = {**os.environ, "FARM_DB_URL": url, "PYTHONPATH": str(REPO),
           "FARM_HOME": tempfile.gettempdir() + "/farm-scale-home"}
    subprocess.run([sys.executable, "-m", "jobs.cli", "ls", "--limit", "50", "--json"], env=env,
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="farm-scale-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'catalog.db'}"


@contextmanager
def postgres_url(base: str) -> Iterator[str]:
    import psycopg

    schema = f"farm_scale_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def report(backend: str, small: dict[str, tuple[float, float]],
           large: dict[str, tuple[float, float]], jobs: int) -> None:
    print(f"\n{backend}: {jobs:,} jobs / {3 * jobs:,} artifacts vs 1,000 jobs (median, p95 ms)")
    print(f"{'query':22}{'1k med':>9}{'big med':>10}{'big p95':>10}{'ratio':>8}")
    for name, (med, p95) in large.items():
        base = small[name][0]
        print(f"{name:22}{base:9.2f}{med:10.2f}{p95:10.2f}{med / base:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    backends: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [("SQLite", sqlite_url)]
    if args.pg:
        backends.append(("PostgreSQL", lambda: postgres_url(args.pg)))
    for name, make in backends:
        with make() as small_url, make() as large_url:
            small = measure(small_url, 1000)
            large = measure(large_url, args.jobs)
        report(name, small, large, args.jobs)
    print("\ntargets: ls --limit 50 < 200 ms, artifact by sha256 < 5 ms (in-process queries)")


if __name__ == "__main__":
    main()
