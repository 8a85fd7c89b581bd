"""The farm yields to the musician, on real workers and Redis: pause and resume (also across a
restart of `farm up`), quiet hours, re-ordering the line, failure policies (retries with
backoff, the same error, the blocklist, the stall watchdog) and the disk guard."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

import redis

from storage.catalog import Catalog
from tests.conftest import farm, farm_json
from tests.test_farm_up import FarmUp, _embedded_env
from tests.test_gpu_farm import gpu_env, lease_holder, probe_report, submit_probe, wait_state

__all__ = ["gpu_env"]  # the fixture, used by name below


def wait_for(check, timeout_s: float = 30, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (found := check()) is not None and found is not False:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def held_for(env: dict[str, str], job_id: str, hold: str) -> bool:
    job = Catalog(env["FARM_DB_URL"]).get_job(job_id)
    return job.hold == hold and str(job.state) == "QUEUED"


def events(env: dict[str, str], job_id: str) -> list:
    return Catalog(env["FARM_DB_URL"]).events(job_id)


def wait_end(env: dict[str, str], job_id: str, timeout_s: float = 60) -> dict:
    result = farm(env, "wait", job_id, "--timeout", str(timeout_s), "--json",
                  timeout=timeout_s + 30)
    assert result.returncode in (0, 1), result.stderr
    return farm_json(env, "status", job_id)


# pause and resume ----------------------------------------------------------------------------

def test_pause_lets_the_running_job_finish_starts_nothing_unloads_and_resume_drains(
        gpu_env, start_worker) -> None:
    start_worker(tags="image")
    first = submit_probe(gpu_env, model="sd15", run_s=2)
    wait_state(gpu_env, first, {"RUNNING"})
    paused = farm_json(gpu_env, "pause")
    assert paused["paused"] == ["*"] and "running jobs finish" in paused["message"]
    queued = [submit_probe(gpu_env, model="sd15", run_s=0.1) for _ in range(3)]
    assert wait_end(gpu_env, first)["state"] == "SUCCEEDED"  # the running probe finishes
    # The resident model is unloaded and the device given back, for the musician.
    wait_for(lambda: lease_holder(gpu_env) is None, 10, "the lease to be given back")
    assert "free" in farm(gpu_env, "gpu").stdout
    # A job submitted during the pause reaches a worker and is held there, not run.
    late = submit_probe(gpu_env, model="sd15", run_s=0.1)
    wait_for(lambda: held_for(gpu_env, late, "pause"), 20, "the late job to be held")
    for job_id in [*queued, late]:
        doc = farm_json(gpu_env, "status", job_id)
        assert doc["state"] == "QUEUED" and doc["attempts"] == 0 and doc["started_at"] is None
        assert doc["reason"].startswith("paused by the user at "), doc["reason"]
    at = datetime.fromisoformat(paused["at"]).astimezone().strftime("%H:%M")
    assert f"paused by the user at {at}" in farm(gpu_env, "status", late).stdout
    assert "paused" in farm(gpu_env, "doctor").stdout

    resumed = farm_json(gpu_env, "resume")
    assert resumed["resumed"] == ["*"] and set(resumed["released"]) == {*queued, late}
    reports = [probe_report(wait_end(gpu_env, j)) for j in [*queued, late]]
    assert all(r["attempt"] == 1 for r in reports)
    spans = sorted((r["run_started"], r["run_finished"]) for r in reports)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_pause_now_puts_the_running_job_back_in_line_uncounted(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    job = submit_probe(gpu_env, model="sd15", run_s=60)
    wait_state(gpu_env, job, {"RUNNING"})
    doc = farm_json(gpu_env, "pause", "--now", "--tags", "image")
    assert doc["stopping"] == [job] and doc["paused"] == ["image"]
    wait_for(lambda: held_for(gpu_env, job, "pause"), 20, "the running job to go back")
    status = farm_json(gpu_env, "status", job)
    assert status["attempts"] == 0 and status["reason"].startswith("paused by the user")
    wait_for(lambda: lease_holder(gpu_env) is None, 10, "the lease to be given back")
    # Another queue is not paused: its jobs run meanwhile.
    light = submit_probe(gpu_env, tag="midi", vram_mb=0, run_s=0.05)
    start_worker(tags="midi")
    assert wait_end(gpu_env, light)["state"] == "SUCCEEDED"
    farm_json(gpu_env, "priority", job, "5")  # a held job can still be re-ordered
    farm_json(gpu_env, "resume", "--tags", "image")
    wait_state(gpu_env, job, {"RUNNING"})
    farm_json(gpu_env, "cancel", job)
    assert farm_json(gpu_env, "status", job)["attempts"] == 1  # the paused try never counted


def test_pause_survives_farm_up_being_stopped_and_started(farm_env, tmp_path: Path) -> None:
    env = _embedded_env(farm_env, tmp_path)
    env["FARM_UP__WATCH"] = "false"
    up = FarmUp(env, tmp_path / "up.log")
    farm_json(env, "pause")
    before = farm_json(env, "submit", "probe", "-p", "tag=midi", "-p", "vram_mb=0")["job_id"]
    wait_for(lambda: held_for(env, before, "pause"), 20, "the job to be held")
    up.proc.send_signal(signal.SIGTERM)
    up.proc.wait(60)

    up = FarmUp(env, tmp_path / "up.log")
    assert "the farm stays paused: everything paused by the user" in (
        tmp_path / "up.log").read_text()
    after = farm_json(env, "submit", "probe", "-p", "tag=midi", "-p", "vram_mb=0")["job_id"]
    wait_for(lambda: held_for(env, after, "pause"), 20, "the new job to be held")
    assert farm_json(env, "status", before)["attempts"] == 0
    farm_json(env, "resume")
    assert [wait_end(env, j)["state"] for j in (before, after)] == ["SUCCEEDED"] * 2
    up.proc.send_signal(signal.SIGTERM)
    up.proc.wait(60)


# quiet hours ---------------------------------------------------------------------------------

def _offset_to(hh: int, mm: int) -> float:
    """The clock offset that makes the farm's local time hh:mm now (the seam the farm has)."""
    now = datetime.now().astimezone()
    target = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return (target - now).total_seconds()


def test_quiet_hours_hold_heavy_jobs_with_the_reason_and_let_light_ones_run(
        gpu_env, start_worker) -> None:
    gpu_env["FARM_SCHEDULE"] = json.dumps({"heavy": "22:00-08:00"})
    gpu_env["FARM_CLOCK_OFFSET_S"] = str(_offset_to(13, 0))  # the afternoon: a recording
    afternoon = start_worker(tags="image")
    heavy = submit_probe(gpu_env, model="sd15", run_s=0.1)
    light = submit_probe(gpu_env, vram_mb=0, run_s=0.05)  # the same queue, no GPU
    assert wait_end(gpu_env, light)["state"] == "SUCCEEDED"
    wait_for(lambda: held_for(gpu_env, heavy, "quiet"), 20, "the heavy job to be held")
    # True at the moment it is shown: the farm's clock (offset) is outside the window now.
    farm_time = datetime.now().astimezone() + timedelta(
        seconds=float(gpu_env["FARM_CLOCK_OFFSET_S"]))
    assert 8 <= farm_time.hour < 22
    assert farm_json(gpu_env, "status", heavy)["reason"] == "quiet hours until 22:00"
    queue = farm_json(gpu_env, "queue")
    row = next(r for line in queue for r in line["jobs"] if r["job_id"] == heavy)
    assert row["why"] == "quiet hours until 22:00" and row["held"]

    # The night comes (a worker whose clock says 22:30): the held job is let go and runs.
    afternoon.stop()
    gpu_env["FARM_CLOCK_OFFSET_S"] = str(_offset_to(22, 30))
    start_worker(tags="image")
    doc = wait_end(gpu_env, heavy)
    assert doc["state"] == "SUCCEEDED" and doc["attempts"] == 1
    assert any(e.message == "released (quiet)" for e in events(gpu_env, heavy))


# re-ordering ---------------------------------------------------------------------------------

def test_reordering_changes_the_order_the_lease_grants(gpu_env, start_worker) -> None:
    start_worker(tags="image")
    first = submit_probe(gpu_env, model="sd15", run_s=600)
    wait_state(gpu_env, first, {"RUNNING"})
    b, c, d = (submit_probe(gpu_env, model="sd15", run_s=0.2) for _ in range(3))
    farm_json(gpu_env, "priority", c, "9")
    moved = farm_json(gpu_env, "move", d, "--before", b)
    assert moved["priority"] == 5

    queue = farm_json(gpu_env, "queue", "--device", "gpu0")
    assert [r["job_id"] for r in queue[0]["jobs"]] == [c, d, b]
    holder = lease_holder(gpu_env)  # the reason is true now: the holder is the one named
    assert holder is not None and holder["job_id"] == first == queue[0]["holder"]["job_id"]
    assert [r["why"].split(":")[-1].strip() for r in queue[0]["jobs"]] == [
        "0 ahead", "1 ahead", "2 ahead"]
    farm_json(gpu_env, "cancel", first)  # the device passes on, in the order shown

    reports = [probe_report(wait_end(gpu_env, j)) for j in (c, d, b)]
    grants = [json.loads(e)["job_id"] for e in reversed(redis.Redis.from_url(
        gpu_env["REDIS_URL"]).lrange(f"{gpu_env['FARM_NAMESPACE']}:gpu:studio-pc/gpu0:events", 0, -1))
        if json.loads(e)["event"] == "grant"]
    assert grants == [first, c, d, b]
    spans = [(r["run_started"], r["run_finished"]) for r in reports]
    assert all(a[1] <= b_[0] for a, b_ in zip(spans, spans[1:], strict=False)), spans


# failure policies ----------------------------------------------------------------------------

def test_a_failing_probe_is_retried_with_backoff_then_failed_for_good(farm_env, start_worker
                                                                      ) -> None:
    farm_env["FARM_POLICIES"] = json.dumps({"probe": {"retries": 2, "backoff_s": 1}})
    start_worker(tags="midi")
    job = submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0, fail="true")
    doc = wait_end(farm_env, job)
    assert doc["state"] == "FAILED" and doc["attempts"] == 3
    assert doc["error"].startswith("probe asked to fail")
    starts = [e.at for e in events(farm_env, job) if (e.message or "").startswith("attempt ")]
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) == 2 and gaps[0] >= 1.0 and gaps[1] >= 2.0, gaps
    assert [e.message for e in events(farm_env, job) if "retried in" in (e.message or "")] == [
        "failed, retried in 1 s: probe asked to fail (model probe-model)",
        "failed, retried in 2 s: probe asked to fail (model probe-model)"]


def test_the_same_error_n_times_fails_for_good_before_the_retries_run_out(farm_env, start_worker
                                                                          ) -> None:
    farm_env["FARM_POLICIES"] = json.dumps(
        {"default": {"retries": 5, "backoff_s": 0, "same_error_limit": 2}})
    farm_env["FARM_BLOCKLIST_AFTER"] = "0"  # this worker fails on purpose; it is not broken
    start_worker(tags="midi")
    job = submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0, fail="true")
    doc = wait_end(farm_env, job)
    assert doc["state"] == "FAILED" and doc["attempts"] == 2
    assert doc["error"].endswith("(the same error 2 times in a row)")
    flaky = submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0, fail_attempts=1)
    assert wait_end(farm_env, flaky)["attempts"] == 2  # a retry that works ends SUCCEEDED
    assert farm_json(farm_env, "status", flaky)["state"] == "SUCCEEDED"


def test_a_worker_failing_a_kind_three_times_stops_taking_it_while_another_does(
        farm_env, start_worker) -> None:
    first = start_worker(tags="midi")
    failing = [submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0, fail="true")
               for _ in range(3)]
    assert [wait_end(farm_env, j)["state"] for j in failing] == ["FAILED"] * 3
    name = farm_json(farm_env, "status", failing[0])["worker"]
    doctor = farm(farm_env, "doctor").stdout
    assert f"worker {name} stopped taking probe jobs after 3 failed jobs in a row" in doctor

    waiting = submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0)
    reason = wait_for(lambda: (r := farm_json(farm_env, "status", waiting)["reason"] or "")
                      .startswith(f"worker {name} stopped taking probe") and r, 20, "the reason")
    assert "`farm worker unblock" in reason
    second = start_worker(tags="midi")  # another worker takes them while the first refuses
    later = [submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0) for _ in range(4)]
    docs = [wait_end(farm_env, j) for j in [waiting, *later]]
    assert all(d["state"] == "SUCCEEDED" and d["worker"] != name for d in docs), docs
    music = farm_json(farm_env, "submit", "midi", "-p", "bars=2")["job_id"]  # other kinds go on
    assert wait_end(farm_env, music)["state"] == "SUCCEEDED"

    unblocked = farm_json(farm_env, "worker", "unblock", name)
    assert unblocked["cleared"] == [{"worker": name, "kind": "probe"}]
    assert farm(farm_env, "worker", "unblock", name).returncode == 2  # nothing left to clear
    second.stop()  # with the other worker gone, the first takes probes again
    again = submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0)
    doc = wait_end(farm_env, again)
    assert doc["state"] == "SUCCEEDED" and doc["worker"] == name and first.proc.poll() is None


def test_a_stalled_job_is_killed_and_retried(farm_env, start_worker) -> None:
    farm_env["FARM_POLICIES"] = json.dumps(
        {"probe": {"retries": 1, "backoff_s": 0, "stall_s": 1}})
    start_worker(tags="midi")
    job = submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0.05, hang_attempts=1, hang_s=120)
    doc = wait_end(farm_env, job, 90)
    assert doc["state"] == "SUCCEEDED" and doc["attempts"] == 2, doc
    messages = [e.message or "" for e in events(farm_env, job)]
    assert any(m.startswith("failed, retried in 0 s: stalled: no progress for 1 s") for m in messages)


# the disk guard ------------------------------------------------------------------------------

def test_heavy_jobs_wait_for_disk_space_light_ones_run(gpu_env, start_worker) -> None:
    gpu_env["FARM_DISK_MIN_FREE_MB"] = str(10**12)  # more than any disk has
    full = start_worker(tags="image")
    heavy = submit_probe(gpu_env, model="sd15", run_s=0.05)
    light = submit_probe(gpu_env, vram_mb=0, run_s=0.05)
    assert wait_end(gpu_env, light)["state"] == "SUCCEEDED"
    wait_for(lambda: held_for(gpu_env, heavy, "disk"), 20, "the heavy job to be held")
    assert farm_json(gpu_env, "status", heavy)["reason"].startswith("disk nearly full: ")
    doctor = farm(gpu_env, "doctor").stdout
    assert "disk nearly full" in doctor and "heavy jobs wait until there is room" in doctor
    full.stop()
    gpu_env["FARM_DISK_MIN_FREE_MB"] = "1"  # room again (a worker that needs 1 MB)
    start_worker(tags="image")
    assert wait_end(gpu_env, heavy)["state"] == "SUCCEEDED"


# bad input -----------------------------------------------------------------------------------

def test_bad_schedule_and_queue_requests_are_one_line_with_exit_2(farm_env, tmp_path: Path,
                                                                   start_worker) -> None:
    config = tmp_path / "farm.yaml"
    config.write_text("heartbeat_s: 2\nschedule:\n  heavy: '25:00-08:00'\n")
    bad = farm(farm_env, "--config", str(config), "worker", "--tags", "midi")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert f"{config} line 3: bad setting schedule.heavy: '25:00-08:00': hours run" \
        in bad.stderr
    config.write_text("schedule:\n  nightly: '22:00-08:00'\n")
    assert "line 2: bad setting schedule.nightly: 'nightly' is neither heavy nor a tag" in farm(
        farm_env, "--config", str(config), "up").stderr
    config.write_text("policies:\n  probes: {retries: 2}\n")
    unknown = farm(farm_env, "--config", str(config), "worker", "--tags", "midi")
    assert unknown.returncode == 2 and "policies.probes: no such kind" in unknown.stderr

    not_paused = farm(farm_env, "resume")
    assert not_paused.returncode == 2 and "the farm is not paused" in not_paused.stderr
    start_worker(tags="midi")
    done = submit_probe(farm_env, tag="midi", vram_mb=0, run_s=0)
    wait_end(farm_env, done)
    for args in (["priority", done, "7"], ["move", done, "--before", done],
                 ["priority", done, "12"], ["queue", "--device", "gpu9"],
                 ["pause", "--tags", "video"], ["worker", "unblock", "nobody"]):
        result = farm(farm_env, *args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert "only a waiting job" in farm(farm_env, "priority", done, "7").stderr
