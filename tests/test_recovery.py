"""A long queue survives Redis loss, killed workers and long jobs: nothing lost, nothing twice."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest
import redis

from jobs.broker import redis_server_binary
from storage.catalog import Catalog
from tests.conftest import Worker, _free_port, farm, farm_json
from tests.test_gpu_farm import submit_many


@pytest.fixture
def recovery_env(farm_env: dict[str, str]) -> dict[str, str]:
    farm_env.update({"FARM_RECONCILE_EVERY_S": "1", "FARM_LEASE_TTL_S": "2"})
    return farm_env


def probes(count: int, run_s: float = 0.05, models: int = 2) -> list[dict]:
    return [{"kind": "probe", "params": {"model": f"m{i % models}", "run_s": run_s}}
            for i in range(count)]


def wait_all_done(env: dict[str, str], ids: list[str], timeout_s: float = 240) -> Catalog:
    catalog = Catalog(env["FARM_DB_URL"])
    deadline = time.monotonic() + timeout_s
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        pending = {j for j in pending if not catalog.get_job(j).state.is_terminal}
        time.sleep(0.2)
    assert not pending, f"{len(pending)} jobs never finished"
    return catalog


def assert_each_succeeded_once(catalog: Catalog, ids: list[str]) -> list[int]:
    attempts = []
    for job_id in ids:
        job = catalog.get_job(job_id)
        assert job.state == "SUCCEEDED", (job_id, job.state, job.error)
        artifacts = catalog.artifacts(job_id)
        assert len(artifacts) == 1 and artifacts[0].attempt == job.attempts
        attempts.append(job.attempts)
    return attempts


def wait_some_done(env: dict[str, str], ids: list[str], at_least: int = 3) -> None:
    """Until the farm is busy on the queue: a few done, the rest still to come."""
    catalog = Catalog(env["FARM_DB_URL"])
    deadline = time.monotonic() + 60
    while sum(catalog.get_job(j).state == "SUCCEEDED" for j in ids) < at_least:
        assert time.monotonic() < deadline, "the farm never got going"
        time.sleep(0.05)


def lost_from_redis(env: dict[str, str], ids: list[str]) -> list[str]:
    """The jobs the catalog still owes a message to: the ones Redis just lost."""
    catalog = Catalog(env["FARM_DB_URL"])
    lost = [j for j in ids if catalog.get_job(j).state == "QUEUED"]
    assert lost, "nothing was left in the queue to lose: the flush came too late"
    return lost


def assert_sent_again(catalog: Catalog, lost: list[str], workers: int = 2) -> None:
    """The lost jobs ran because the reconciler sent their messages again, as their history
    says; all but the few whose message a worker had already taken into its hands (one each)."""
    unsent = [j for j in lost if not any((e.message or "").startswith("sent again")
                                         for e in catalog.events(j))]
    assert len(unsent) <= workers, (len(lost), unsent)


def test_flushall_mid_queue_loses_nothing(recovery_env, start_worker) -> None:
    start_worker(tags="image")
    start_worker(tags="image")
    ids = submit_many(recovery_env, probes(50))
    wait_some_done(recovery_env, ids)
    client = redis.Redis.from_url(recovery_env["REDIS_URL"])
    client.flushall()
    assert client.dbsize() <= 2  # gone from Redis (a worker may already be announcing again)
    lost = lost_from_redis(recovery_env, ids)
    catalog = wait_all_done(recovery_env, ids)
    assert_each_succeeded_once(catalog, ids)
    assert_sent_again(catalog, lost)


def test_restarted_redis_without_persistence_loses_nothing(farm_env, tmp_path) -> None:
    port = _free_port()

    def start_redis() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                return proc
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    server = start_redis()
    env = dict(farm_env, REDIS_URL=f"redis://127.0.0.1:{port}/0", FARM_RECONCILE_EVERY_S="1",
               FARM_LEASE_TTL_S="2")
    workers = [Worker(env, "image"), Worker(env, "image")]
    try:
        ids = submit_many(env, probes(50))
        wait_some_done(env, ids)
        server.kill()
        server.wait()
        lost = lost_from_redis(env, ids)
        server = start_redis()
        assert redis.Redis(port=port).llen(f"{env['FARM_NAMESPACE']}:image") == 0  # all gone
        catalog = wait_all_done(env, ids)
        assert_each_succeeded_once(catalog, ids)
        assert_sent_again(catalog, lost)
    finally:
        for worker in workers:
            worker.stop()
        server.kill()
        server.wait()


def test_killing_every_worker_at_random_moments_runs_each_job_once(recovery_env) -> None:
    rng = random.Random(5)
    workers = [Worker(recovery_env, "image"), Worker(recovery_env, "image")]
    ids = submit_many(recovery_env, probes(100, run_s=0.1, models=3))
    catalog = Catalog(recovery_env["FARM_DB_URL"])
    try:
        for _ in range(4):
            time.sleep(rng.uniform(1.0, 3.0))
            for worker in workers:
                worker.kill()
            workers = [Worker(recovery_env, "image"), Worker(recovery_env, "image")]
        wait_all_done(recovery_env, ids)
    finally:
        for worker in workers:
            worker.stop()
    attempts = assert_each_succeeded_once(catalog, ids)
    assert max(attempts) >= 2, "no job was ever interrupted: the kills came too late"


def test_job_longer_than_the_visibility_timeout_runs_once(recovery_env, start_worker) -> None:
    recovery_env["FARM_VISIBILITY_TIMEOUT_S"] = "10"
    first = start_worker(tags="image")
    start_worker(tags="image")
    [job_id] = submit_many(recovery_env, probes(1, run_s=25))
    catalog = wait_all_done(recovery_env, [job_id], timeout_s=90)
    assert assert_each_succeeded_once(catalog, [job_id]) == [1]
    logs = "".join(p.read_text() for p in first.log.parent.glob("worker-*.log"))
    assert logs.count(f"farm.probe[{job_id}") >= 2, "Redis never re-delivered the message"


def test_verify_names_a_corrupt_blob_and_exits_1(farm_env, start_worker) -> None:
    start_worker(tags="image")
    [job_id] = submit_many(farm_env, probes(1))
    wait_all_done(farm_env, [job_id])
    assert farm(farm_env, "catalog", "verify").returncode == 0
    artifact = farm_json(farm_env, "artifacts", job_id)[0]
    blob = Path(artifact["blob"])
    os.chmod(blob, 0o644)
    blob.write_bytes(b"bit rot")
    result = farm(farm_env, "catalog", "verify")
    assert result.returncode == 1
    assert f"corrupt: {blob}" in result.stdout and job_id[:12] in result.stdout


def test_gc_lists_unreferenced_blobs_and_removes_them_only_when_asked(farm_env) -> None:
    from storage.store import BlobStore

    store = BlobStore(Path(farm_env["FARM_HOME"]) / "store")
    orphan = store.put_bytes(b"left by a refused commit")
    young = store.put_bytes(b"written a moment ago by a job not yet committed")
    # A writer killed between its write and its rename leaves its temporary file behind;
    # one written a moment ago may still be in flight and is left alone.
    killed = orphan.path.with_name(".tmp-0123456789abcdef-4242-1")
    killed.write_bytes(b"half a blob")
    two_hours_ago = time.time() - 7200
    for old in (killed, orphan.path):
        os.utime(old, (two_hours_ago, two_hours_ago))
    in_flight = orphan.path.with_name(".tmp-fedcba9876543210-4243-1")
    in_flight.write_bytes(b"being written")
    dry = farm_json(farm_env, "catalog", "gc")
    assert dry["orphans"] == [orphan.sha256] and orphan.path.exists()
    assert dry["leftovers"] == [str(killed)] and killed.exists()
    assert dry["bytes"] == orphan.size + len(b"half a blob")
    farm_json(farm_env, "catalog", "gc", "--delete")
    assert not orphan.path.exists() and not killed.exists() and in_flight.exists()
    assert young.path.exists()
    assert farm_json(farm_env, "catalog", "gc") == {"orphans": [], "leftovers": [], "bytes": 0,
                                                    "deleted": False}


def _zero(blob: Path) -> None:
    """Bit rot that keeps the size: the same number of zero bytes."""
    os.chmod(blob, 0o644)
    blob.write_bytes(b"\0" * blob.stat().st_size)


def test_a_damaged_blob_is_replaced_when_the_same_output_is_made_again(farm_env,
                                                                        start_worker) -> None:
    start_worker()
    first = farm_json(farm_env, "submit", "midi", "-p", "bars=2", "--seed", "7")["job_id"]
    farm_json(farm_env, "wait", first, "--timeout", "60")
    music = next(a for a in farm_json(farm_env, "artifacts", first) if a["name"] == "music.mid")
    _zero(Path(music["blob"]))
    assert farm(farm_env, "catalog", "verify").returncode == 1
    again = farm_json(farm_env, "submit", "midi", "-p", "bars=2", "--seed", "7")["job_id"]
    assert farm_json(farm_env, "wait", again, "--timeout", "60")["state"] == "SUCCEEDED"
    remade = next(a for a in farm_json(farm_env, "artifacts", again) if a["name"] == "music.mid")
    assert remade["sha256"] == music["sha256"]
    assert Path(remade["path"]).read_bytes()[:4] == b"MThd"
    assert farm(farm_env, "catalog", "verify").returncode == 0


def test_a_job_reading_a_damaged_input_fails_naming_the_blob(farm_env, start_worker) -> None:
    start_worker(tags="llm,midi")
    intent = farm_json(farm_env, "submit", "intent", "-p", "text=a sad ballad")["job_id"]
    farm_json(farm_env, "wait", intent, "--timeout", "60")
    [doc] = farm_json(farm_env, "artifacts", intent)
    _zero(Path(doc["blob"]))
    midi = farm_json(farm_env, "submit", "midi", "--after", intent)["job_id"]
    assert farm(farm_env, "wait", midi, "--timeout", "60").returncode == 1
    error = farm_json(farm_env, "status", midi)["error"]
    assert f"blob {doc['sha256'][:12]}" in error and "does not match its hash" in error, error
