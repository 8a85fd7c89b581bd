"""`farm up` stopped mid-queue (SIGTERM, and SIGKILL of everything) and started again: every job
ends SUCCEEDED exactly once with its artifacts; a job whose input failed ends FAILED with why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.conftest import REPO, farm, farm_json

JOBS = 16


def _embedded_env(farm_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """No REDIS_URL: `farm up` runs its own redis-server with AOF under FARM_HOME."""
    env = {k: v for k, v in farm_env.items() if k != "REDIS_URL"}
    env["FARM_HOME"] = str(tmp_path / "h")
    env["FARM_DB_URL"] = f"sqlite:///{tmp_path / 'h' / 'catalog.db'}"
    env["FARM_RECONCILE_EVERY_S"] = "1"
    env["FARM_SHUTDOWN_GRACE_S"] = "30"
    return env


class FarmUp:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "up"], env=env,
                                         cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 90
        while "farm up:" not in log.read_text().split("farm stopped")[-1]:
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

    def group_pids(self) -> set[int]:
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.proc.pid:
                        found.add(int(entry.name))
                except ProcessLookupError:
                    pass
        return found


def _submit(env: dict[str, str]) -> tuple[list[str], str, str]:
    ids = [farm_json(env, "submit", "probe", "--param", "tag=midi", "--param", "vram_mb=0",
                     "--param", "run_s=0.4", "--seed", str(n))["job_id"] for n in range(JOBS)]
    bad = farm_json(env, "submit", "probe", "--param", "tag=midi", "--param", "vram_mb=0",
                    "--param", "fail=true")["job_id"]
    after_bad = farm_json(env, "submit", "midi", "--param", "bars=2", "--after", bad)["job_id"]
    return ids, bad, after_bad


def _wait_some_done(env: dict[str, str], ids: list[str], at_least: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [farm_json(env, "status", j)["state"] for j in ids[: at_least + 2]]
        if states.count("SUCCEEDED") >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError("the farm did not start working")


def _assert_all_done_once(env: dict[str, str], ids: list[str], bad: str, after_bad: str) -> None:
    for job_id in ids:
        doc = farm_json(env, "wait", job_id, "--timeout", "90", timeout=120)
        assert doc["state"] == "SUCCEEDED", doc
        assert [a["name"] for a in doc["artifacts"]] == ["probe.json"], doc
        report = json.loads(Path(doc["artifacts"][0]["path"]).read_text())
        assert report["job_id"] == job_id and report["attempt"] == doc["attempts"]
    for job_id in (bad, after_bad):
        assert farm(env, "wait", job_id, "--timeout", "30").returncode == 1  # 1: job failed
    failed = farm_json(env, "status", after_bad)
    assert failed["state"] == "FAILED" and bad[:12] in failed["error"], failed


def _busy_farm(farm_env: dict[str, str], tmp_path: Path
               ) -> tuple[dict[str, str], FarmUp, list[str], str, str]:
    """A farm up with a queue submitted and a few jobs already done."""
    env = _embedded_env(farm_env, tmp_path)
    up = FarmUp(env, tmp_path / "up.log")
    ids, bad, after_bad = _submit(env)
    _wait_some_done(env, ids, 3)
    return env, up, ids, bad, after_bad


def _stop(up: FarmUp) -> None:
    up.proc.send_signal(signal.SIGTERM)
    up.proc.wait(60)


def test_farm_up_stopped_by_sigterm_mid_queue_finishes_every_job_once_when_up_again(
        farm_env, tmp_path) -> None:
    env, up, ids, bad, after_bad = _busy_farm(farm_env, tmp_path)
    _stop(up)
    assert "farm stopped" in up.log.read_text()
    assert not up.group_pids(), "farm up left processes behind"
    assert farm(env, "status", ids[-1]).returncode == 0  # the catalog answers with Redis down
    up = FarmUp(env, up.log)
    try:
        _assert_all_done_once(env, ids, bad, after_bad)
        # Warm shutdown let running jobs finish: nothing had to run twice.
        assert all(farm_json(env, "status", j)["attempts"] == 1 for j in ids)
    finally:
        _stop(up)


def test_farm_up_killed_outright_mid_queue_finishes_every_job_once_when_up_again(
        farm_env, tmp_path) -> None:
    env, up, ids, bad, after_bad = _busy_farm(farm_env, tmp_path)
    sock = Path(env["FARM_HOME"]) / "run" / "redis.sock"
    server_pid = int(redis.Redis(unix_socket_path=str(sock)).info("server")["process_id"])
    os.kill(server_pid, signal.SIGKILL)  # a power cut: Redis gets no chance to flush
    os.killpg(up.proc.pid, signal.SIGKILL)
    up.proc.wait()
    deadline = time.monotonic() + 10
    while up.group_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    up = FarmUp(env, up.log)
    try:
        _assert_all_done_once(env, ids, bad, after_bad)
        attempts = [farm_json(env, "status", j)["attempts"] for j in ids]
        assert max(attempts) <= 2, attempts
    finally:
        _stop(up)


def test_farm_up_runs_the_watcher_and_flower_and_stops_them_with_the_rest(farm_env,
                                                                         tmp_path) -> None:
    from tests.conftest import _free_port
    from tests.test_flower import status
    from tests.test_watch import finished, wait_finished, write_drops

    env = dict(_embedded_env(farm_env, tmp_path), FARM_UP__FLOWER="true",
               FARM_FLOWER__PORT=str(_free_port()), FARM_WATCH_SETTLE_S="0.2")
    up = FarmUp(env, tmp_path / "up.log")
    try:
        inbox = Path(env["FARM_HOME"]) / "inbox"
        deadline = time.monotonic() + 30  # the watcher and Flower start beside the workers
        while not ((inbox / "processing").is_dir() and status(
                f"http://127.0.0.1:{env['FARM_FLOWER__PORT']}/healthcheck") == 200):
            assert time.monotonic() < deadline, up.log.read_text()
            time.sleep(0.1)
        write_drops(inbox, [("first.json", '{"kind": "midi", "params": {"bars": 2}}')])
        wait_finished(inbox, 1, timeout_s=60)
        watcher = next(pid for pid in up.group_pids()
                       if b"watch" in Path(f"/proc/{pid}/cmdline").read_bytes())
        os.kill(watcher, signal.SIGKILL)  # farm up starts another, which takes the next drop
        write_drops(inbox, [("second.json", '{"kind": "midi", "params": {"bars": 3}}')])
        wait_finished(inbox, 2, timeout_s=60)
        assert sorted(p.name for p in finished(inbox)) == ["first.json", "second.json"]
    finally:
        _stop(up)
    assert not up.group_pids(), "farm up left processes behind"
