"""A store that cannot be written (disk full, file too large) fails the job with a clear
message and leaves no partial blob behind."""

from __future__ import annotations

import resource
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.store import sha256_of_file
from tests.conftest import REPO, Worker, farm, farm_json

LIMIT_BYTES = 64 * 1024  # room for its own log, not for the music of 128 bars


@pytest.fixture
def pg_env(farm_env: dict[str, str], postgres_url: str) -> Iterator[dict[str, str]]:
    """A PostgreSQL catalog, so the worker's own file-size cap hits only the blob store."""
    import psycopg

    schema = f"farm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    farm_env["FARM_DB_URL"] = f"{postgres_url}?options=-csearch_path%3D{schema}"
    yield farm_env
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


class CappedWorker(Worker):
    """A worker whose process may not write any file beyond LIMIT_BYTES (a full disk)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.log = Path(env["FARM_HOME"]).parent / "capped-worker.log"

        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))

        env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}  # no .pyc files over the cap
        with open(self.log, "w") as log:  # only its first LIMIT_BYTES get through
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.cli", "worker", "--tags", "midi"], env=env,
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, preexec_fn=cap,
                start_new_session=True)
        self.wait_ready()


def test_store_write_failure_fails_the_job_clearly_and_leaves_no_partial_blob(pg_env) -> None:
    assert farm(pg_env, "doctor").returncode in (0, 1)  # creates FARM_HOME before the cap
    worker = CappedWorker(pg_env)
    try:
        job = farm_json(pg_env, "submit", "midi", "--param", "bars=128")["job_id"]
        result = farm(pg_env, "wait", job, "--timeout", "60", "--json")
    finally:
        worker.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    doc = farm_json(pg_env, "status", job)
    assert doc["state"] == "FAILED" and doc["artifacts"] == []
    assert "cannot write blob" in doc["error"] and "File too large" in doc["error"], doc["error"]
    assert "Traceback" not in doc["error"]
    blobs = Path(pg_env["FARM_HOME"]) / "store" / "sha256"
    files = [p for p in blobs.rglob("*") if p.is_file()] if blobs.exists() else []
    partial = [p for p in files if p.parent.name + p.name != sha256_of_file(p)]
    assert partial == [], partial  # no temp file, and nothing under a name it does not match
