"""A farm of a few hosts, simulated on this machine: each host its own FARM_HOST and FARM_HOME,
all of them one Redis, one PostgreSQL catalog and one store folder (a shared mount's stand-in).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import redis

from storage.catalog import Catalog
from tests.conftest import Worker, farm, farm_json
from tests.test_gpu_farm import submit_many, wait_state
from tests.test_recovery import assert_each_succeeded_once, wait_all_done

Host = Callable[..., dict[str, str]]
T = TypeVar("T")


@pytest.fixture
def pg_catalog(postgres_url: str) -> Iterator[str]:
    """A fresh schema of the test server: the farm's one catalog."""
    schema = f"farm_hosts_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def host(farm_env: dict[str, str], tmp_path: Path, pg_catalog: str) -> Host:
    """The environment of one simulated host of the farm (`farm_env`'s Redis namespace)."""
    shared = {**farm_env, "FARM_DB_URL": pg_catalog, "FARM_STORE__PATH": str(tmp_path / "store"),
              "FARM_RECONCILE_EVERY_S": "1", "FARM_LEASE_TTL_S": "2"}

    def make(name: str, **extra: str) -> dict[str, str]:
        (tmp_path / name).mkdir(exist_ok=True)  # its workers' logs go beside its home
        return {**shared, "FARM_HOST": name, "FARM_HOME": str(tmp_path / name / "home"), **extra}

    return make


@pytest.fixture
def workers() -> Iterator[Callable[[dict[str, str], str], Worker]]:
    started: list[Worker] = []

    def start(env: dict[str, str], tags: str) -> Worker:
        started.append(Worker(env, tags))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def probe_report(doc: dict) -> dict:
    """A probe's report read from the one store (the outputs view is the committing host's)."""
    return json.loads(Path(doc["artifacts"][0]["blob"]).read_text())


def host_of(worker: str | None) -> str:
    return (worker or "").rsplit("@", 1)[-1]


def poll(found: Callable[[], T], within_s: float) -> T:
    """What `found` gives once it is truthy, asked until `within_s` have passed."""
    deadline = time.monotonic() + within_s
    while not (value := found()):
        assert time.monotonic() < deadline, "the farm never got there"
        time.sleep(0.05)
    return value


def overlaps(spans: list[tuple[float, float]]) -> bool:
    spans = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


def test_jobs_of_each_tag_land_on_their_host_and_farm_hosts_lists_them(host, workers) -> None:
    studio, old = host("studio-pc"), host("old-pc")
    workers(studio, "image")
    workers(old, "midi")
    busy = submit_many(studio, [{"kind": "probe", "params": {"model": "sd15", "run_s": 4}}])[0]
    wait_state(studio, busy, {"RUNNING"})
    listed = {h["host"]: h for h in farm_json(old, "hosts")}
    assert set(listed) == {"studio-pc", "old-pc"}
    assert listed["studio-pc"]["tags"] == ["image"] and listed["old-pc"]["tags"] == ["midi"]
    assert listed["studio-pc"]["devices"] == {"studio-pc/gpu0": 16384}
    assert [j["job_id"] for j in listed["studio-pc"]["running"]] == [busy]
    assert listed["old-pc"]["running"] == [] and listed["old-pc"]["last_seen_s"] < 5
    doctor = json.loads(farm(old, "doctor", "--json").stdout)
    assert sorted(c["detail"].split(":")[0] for c in doctor if c["check"] == "host") == [
        "old-pc", "studio-pc"]

    ids = submit_many(old, [{"kind": "midi", "params": {"bars": 2}},
                            {"kind": "probe", "params": {"model": "sd15", "run_s": 0.1}},
                            {"kind": "probe", "params": {"vram_mb": 0, "tag": "midi"}},
                            {"kind": "midi", "params": {"bars": 2}}])
    catalog = wait_all_done(studio, ids + [busy], timeout_s=120)
    ran_on = {j: host_of(catalog.get_job(j).worker) for j in ids}
    assert ran_on == {ids[0]: "old-pc", ids[1]: "studio-pc", ids[2]: "old-pc", ids[3]: "old-pc"}
    # One store: what studio-pc stored, old-pc reads.
    assert probe_report(farm_json(old, "status", ids[1]))["device"] == "studio-pc/gpu0"


def test_two_hosts_gpu0_are_two_leases(host, workers) -> None:
    a, b = host("studio-pc"), host("laptop")
    for env in (a, a, b):  # two workers share studio-pc's gpu0; the laptop's is its own
        workers(env, "image")
    ids = submit_many(a, [{"kind": "probe", "params": {"model": f"m{i % 2}", "run_s": 0.6}}
                          for i in range(10)])
    wait_all_done(a, ids, timeout_s=120)
    reports = [probe_report(farm_json(a, "status", j)) for j in ids]
    by_device: dict[str, list[dict]] = {}
    for report in reports:
        by_device.setdefault(report["device"], []).append(report)
    assert set(by_device) == {"studio-pc/gpu0", "laptop/gpu0"}
    for device, done in by_device.items():
        assert not overlaps([(r["load_started"], r["run_finished"]) for r in done]), device
        tokens = [r["token"] for r in sorted(done, key=lambda r: r["load_started"])]
        assert tokens == sorted(set(tokens)), device  # each device's own fencing tokens
    assert overlaps([(r["load_started"], r["run_finished"]) for r in reports]), \
        "the two hosts' devices never ran at once"
    assert len({r["pid"] for r in by_device["studio-pc/gpu0"]}) == 2  # shared within the host
    gpus = farm_json(b, "gpu")
    assert [g["device"] for g in gpus] == ["laptop/gpu0", "studio-pc/gpu0"]
    fences = Catalog(a["FARM_DB_URL"])
    assert fences.fence("studio-pc/gpu0") > 0 and fences.fence("laptop/gpu0") > 0


def test_a_killed_host_s_jobs_finish_on_another_host_once_naming_the_lost_host(host,
                                                                              workers) -> None:
    lost, other = host("studio-pc"), host("laptop")
    doomed, _ = workers(lost, "image"), workers(other, "image")
    ids = submit_many(lost, [{"kind": "probe", "params": {"model": "sd15", "run_s": 1.5}}
                             for _ in range(8)])
    catalog = Catalog(lost["FARM_DB_URL"])
    victim = poll(lambda: next((j.id for j in map(catalog.get_job, ids) if j.state == "RUNNING"
                                and host_of(j.worker) == "studio-pc"), None), 30)
    doomed.kill()  # its whole process group: the main process and the pool child running
    client = redis.Redis.from_url(lost["REDIS_URL"])
    lease = f"{lost['FARM_NAMESPACE']}:gpu:studio-pc/gpu0:lease"
    poll(lambda: not client.exists(lease), 10)  # freed at its expiry: nobody renews it
    wait_all_done(lost, ids, timeout_s=180)
    assert_each_succeeded_once(catalog, ids)
    job = catalog.get_job(victim)
    assert job.attempts == 2 and host_of(job.worker) == "laptop"
    notes = [e.message or "" for e in catalog.events(victim)]
    assert any("host studio-pc lost: none of its workers answers" in n for n in notes), notes
    assert [h["host"] for h in farm_json(other, "hosts")] == ["laptop"]


def test_a_stopped_host_s_late_commit_is_refused(host, workers) -> None:
    late, other = host("studio-pc"), host("laptop")
    paused = workers(late, "image")
    job = submit_many(late, [{"kind": "probe", "params": {"model": "sd15", "run_s": 2}}])[0]
    first = wait_state(late, job, {"RUNNING"})
    os.killpg(paused.proc.pid, signal.SIGSTOP)  # the host drops off the network, say
    try:
        workers(other, "image")
        catalog = wait_all_done(other, [job], timeout_s=60)
    finally:
        os.killpg(paused.proc.pid, signal.SIGCONT)  # ... and comes back with its result
    poll(lambda: f"{job[:12]} attempt 1 discarded" in paused.log.read_text(), 30)
    done = catalog.get_job(job)
    assert done.attempts == 2 and host_of(done.worker) == "laptop"
    assert first["worker_pid"] != done.worker_pid
    assert [a.attempt for a in catalog.artifacts(job)] == [2]
    assert probe_report(farm_json(late, "status", job))["device"] == "laptop/gpu0"


def test_a_sqlite_worker_beside_another_host_is_refused(host, workers, tmp_path) -> None:
    workers(host("studio-pc"), "midi")
    alone = host("laptop", FARM_DB_URL=f"sqlite:///{tmp_path / 'laptop.db'}")
    result = farm(alone, "worker", "--tags", "midi", timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "host 'studio-pc' runs workers of this farm too" in result.stderr
    assert "use PostgreSQL for a multi-host farm (FARM_DB_URL=postgresql://…)" in result.stderr


def _announce(env: dict[str, str], host: str, **fields: object) -> None:
    """Another machine's worker, as its announcement reads in Redis."""
    doc = {"nodename": f"image-1@{host}", "pid": 1, "host": host, "tags": ["image"],
           "catalog": "postgresql", "devices": {"gpu0": 16384}, "machine": "0" * 16, **fields}
    redis.Redis.from_url(env["REDIS_URL"]).set(
        f"{env['FARM_NAMESPACE']}:worker:image-1@{host}", json.dumps(doc), ex=60)


def test_a_host_name_taken_by_another_machine_is_refused(host) -> None:
    env = host("studio-pc")
    _announce(env, "studio-pc")
    result = farm(env, "worker", "--tags", "midi", timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "FARM_HOST 'studio-pc' is taken by worker 'image-1@studio-pc' on another machine" \
        in result.stderr


def test_one_host_with_two_device_sets_is_refused(host) -> None:
    from jobs.hosts import machine_identity

    env = host("studio-pc", FARM_DEVICES='{"gpu0": {"vram_mb": 8000}}')
    _announce(env, "studio-pc", machine=machine_identity())
    result = farm(env, "worker", "--tags", "midi", timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "host 'studio-pc' has devices gpu0 (8000 MB) here but gpu0 (16384 MB) in worker" \
        in result.stderr


def test_a_worker_beside_a_sqlite_host_is_refused(host) -> None:
    env = host("laptop")
    _announce(env, "studio-pc", catalog="sqlite")
    result = farm(env, "worker", "--tags", "midi", timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "host 'studio-pc' runs workers on a SQLite catalog" in result.stderr


def test_a_host_name_must_be_plain(host) -> None:
    result = farm(host("studio-pc", FARM_HOST="studio/pc"), "hosts")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "bad setting host: 'studio/pc' is not a plain name" in result.stderr
