"""Heavy jobs on real worker processes sharing one (virtual) GPU through the lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from storage.catalog import Catalog
from tests.conftest import farm, farm_json

TTL_S = 2.0


@pytest.fixture
def gpu_env(farm_env: dict[str, str]) -> dict[str, str]:
    farm_env.update({"FARM_LEASE_TTL_S": str(TTL_S), "FARM_IDLE_UNLOAD_S": "30"})
    return farm_env


def submit_probe(env: dict[str, str], **params: object) -> str:
    args = ["submit", "probe"]
    for name, value in params.items():
        args += ["-p", f"{name}={value}"]
    return str(farm_json(env, *args)["job_id"])


def probe_report(doc: dict) -> dict:
    return json.loads(Path(doc["artifacts"][0]["path"]).read_text())


def submit_many(env: dict[str, str], specs: list[dict]) -> list[str]:
    """Submit many jobs through the real submit path in one process (a CLI call each is slow)."""
    code = (
        "import json, sys\n"
        "from jobs.config import load_settings\n"
        "from jobs.spec import parse_spec\n"
        "from jobs.submit import submit_job\n"
        "settings = load_settings()\n"
        "for spec in json.loads(sys.stdin.read()):\n"
        "    print(submit_job(settings, parse_spec(spec))[0].id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(specs), env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


def wait_done(env: dict[str, str], job_id: str, timeout_s: float = 120) -> dict:
    wait_state(env, job_id, {"SUCCEEDED", "FAILED", "CANCELLED"}, timeout_s)
    return farm_json(env, "status", job_id)


def lease_holder(env: dict[str, str]) -> dict | None:
    raw = redis.Redis.from_url(env["REDIS_URL"]).get(f"{env['FARM_NAMESPACE']}:gpu:studio-pc/gpu0:lease")
    return json.loads(raw) if raw else None


def wait_state(env: dict[str, str], job_id: str, states: set[str], timeout_s: float = 30,
               reason_has: str = "") -> dict:
    """Poll the catalog directly (a CLI call per poll would be too slow to see short states)."""
    catalog = Catalog(env["FARM_DB_URL"])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = catalog.get_job(job_id)
        if job.state in states and reason_has in (job.reason or ""):
            return {"state": str(job.state), "worker_pid": job.worker_pid, "reason": job.reason}
        time.sleep(0.02)
    raise AssertionError(f"{job_id} never reached {states}: {job}")


def test_heavy_jobs_on_three_workers_never_overlap(gpu_env, start_worker) -> None:
    for _ in range(3):
        start_worker(tags="image")
    models = ["sd15", "sdxl", "stable-audio"]
    ids = submit_many(gpu_env, [{"kind": "probe", "params": {"model": models[i % 3],
                                "load_s": 0.05, "run_s": 0.05}} for i in range(21)])
    reports = [probe_report(wait_done(gpu_env, j)) for j in ids]
    intervals = sorted((r["load_started"], r["run_finished"]) for r in reports)
    for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
        assert start >= end, "two heavy jobs held the device at once"
    assert len({r["pid"] for r in reports}) >= 2  # the work really was shared
    tokens = [r["token"] for r in sorted(reports, key=lambda r: r["load_started"])]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_waiting_job_says_who_holds_the_device(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    first = submit_probe(gpu_env, model="sd15", run_s=12)
    wait_state(gpu_env, first, {"RUNNING"})
    second = submit_probe(gpu_env, model="sdxl", run_s=0.1)
    start_worker(tags="image")
    waiting = wait_state(gpu_env, second, {"WAITING_GPU"}, reason_has="held by")
    assert f"studio-pc/gpu0 held by job {first[:8]} (probe, sd15), 0 waiting ahead" in waiting["reason"]
    assert waiting["reason"] in farm_json(gpu_env, "status", second)["reason"]
    assert farm_json(gpu_env, "wait", second, "--timeout", "30")["state"] == "SUCCEEDED"


def test_resident_model_is_reused_and_swapped_on_a_new_model(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    loaded = []
    for model in ("sd15", "sd15", "sdxl", "sd15"):
        job = submit_probe(gpu_env, model=model, load_s=0.3, run_s=0.05)
        report = probe_report(farm_json(gpu_env, "wait", job, "--timeout", "30"))
        loaded.append(report["loaded"])
    assert loaded == [True, False, True, True]


def test_killed_holder_frees_the_lease_and_its_job_runs_again_once(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    job = submit_probe(gpu_env, model="sd15", run_s=4)
    running = wait_state(gpu_env, job, {"RUNNING"})
    assert lease_holder(gpu_env)["job_id"] == job
    killed_at = time.monotonic()
    os.kill(running["worker_pid"], signal.SIGKILL)
    while (held := lease_holder(gpu_env)) and held["pid"] == running["worker_pid"]:
        assert time.monotonic() - killed_at < TTL_S + 5, "dead holder kept the lease"
        time.sleep(0.05)
    doc = farm_json(gpu_env, "wait", job, "--timeout", "60")
    assert doc["state"] == "SUCCEEDED" and doc["attempts"] == 2
    assert [a["attempt"] for a in doc["artifacts"]] == [2]
    assert doc["worker_pid"] != running["worker_pid"]


def test_paused_holder_cannot_commit_after_losing_the_lease(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    start_worker(tags="image")
    stale = submit_probe(gpu_env, model="sd15", run_s=3)
    running = wait_state(gpu_env, stale, {"RUNNING"})
    token = lease_holder(gpu_env)["token"]
    os.kill(running["worker_pid"], signal.SIGSTOP)
    try:
        newer = submit_probe(gpu_env, model="sdxl", run_s=0.2)
        newer_doc = farm_json(gpu_env, "wait", newer, "--timeout", "60")
        assert probe_report(newer_doc)["token"] > token
    finally:
        os.kill(running["worker_pid"], signal.SIGCONT)
    doc = farm_json(gpu_env, "wait", stale, "--timeout", "60")
    assert doc["state"] == "SUCCEEDED" and doc["attempts"] == 2
    assert [a["attempt"] for a in doc["artifacts"]] == [2]
    assert probe_report(doc)["token"] > token


def test_cancelling_a_running_heavy_job_releases_the_lease_at_once(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    start_worker(tags="image")
    long = submit_probe(gpu_env, model="sd15", run_s=60)
    wait_state(gpu_env, long, {"RUNNING"})
    nxt = submit_probe(gpu_env, model="sdxl", run_s=0.1)
    wait_state(gpu_env, nxt, {"WAITING_GPU"})
    cancelled_at = time.monotonic()
    assert farm_json(gpu_env, "cancel", long)["cancelled"]
    wait_state(gpu_env, nxt, {"RUNNING", "SUCCEEDED"})
    assert time.monotonic() - cancelled_at < 3
    assert farm_json(gpu_env, "status", long)["state"] == "CANCELLED"
    assert farm_json(gpu_env, "wait", nxt, "--timeout", "30")["state"] == "SUCCEEDED"


def test_job_needing_more_vram_than_any_device_has_is_refused_at_submit(gpu_env) -> None:
    result = farm(gpu_env, "submit", "probe", "-p", "vram_mb=40000")
    assert result.returncode == 2, result
    assert "needs 40000 MB of VRAM (estimated) but the largest device, gpu0, has 16384 MB" \
        in result.stderr
    assert farm_json(gpu_env, "ls") == []


def test_job_needing_more_vram_than_its_workers_device_has_fails_clearly(gpu_env, start_worker
                                                                         ) -> None:
    gpu_env.update({"FARM_DEVICES": '{"gpu0": {"vram_mb": 16384}, "gpu1": {"vram_mb": 4096}}',
                    "FARM_DEVICE": "gpu1"})
    start_worker(tags="image")
    job = submit_probe(gpu_env, vram_mb=8000)
    doc = wait_done(gpu_env, job, 30)
    assert doc["state"] == "FAILED"
    assert "needs 8000 MB of VRAM but studio-pc/gpu1 has 4096 MB" in doc["error"]
    raw = redis.Redis.from_url(gpu_env["REDIS_URL"]).get(
        f"{gpu_env['FARM_NAMESPACE']}:gpu:studio-pc/gpu1:lease")
    assert raw is None


def test_model_registry_remembers_load_cost(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    wait_done(gpu_env, submit_probe(gpu_env, model="sd15", vram_mb=3500, load_s=0.2))
    models = {m.name: m for m in Catalog(gpu_env["FARM_DB_URL"]).models()}
    assert models["sd15"].vram_mb == 3500 and models["sd15"].load_s >= 0.2
