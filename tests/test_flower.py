"""Flower on the farm's broker: task names, the farm's states and reasons, auth, no secrets, and
what a restarted Flower still shows. Real Redis (with a password), workers and Flower."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.broker import redis_server_binary
from tests.browser import Browser
from tests.conftest import REPO, _answers, _free_port, farm, farm_json
from tests.test_gpu_farm import submit_probe, wait_state

REDIS_PASSWORD = "broker-" + uuid.uuid4().hex[:12]
AUTH = ("studio", "flower-" + uuid.uuid4().hex[:8])


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the test's own that wants a password, so its pages can be searched
    for it."""
    port = _free_port()
    proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                             "--requirepass", REDIS_PASSWORD, "--save", "",
                             "--dir", str(tmp_path_factory.mktemp("redis-auth"))],
                            stdout=subprocess.DEVNULL)
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while not _answers(url):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def flower_env(farm_env: dict[str, str], private_redis: str) -> dict[str, str]:
    farm_env.update({"REDIS_URL": private_redis, "FARM_FLOWER__AUTH": ":".join(AUTH),
                     "FARM_FLOWER__PORT": str(_free_port()), "FARM_LEASE_TTL_S": "3"})
    return farm_env


class FlowerProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{env['FARM_FLOWER__PORT']}"
        self.log = Path(env["FARM_HOME"]).parent / f"flower-{uuid.uuid4().hex[:6]}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "flower"], env=env,
                                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while status(self.url + "/healthcheck") != 200:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "Flower did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)


def process_args(pid: int) -> list[str]:
    """The command lines of a process and its children: what any user of the machine sees."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (int(entry.name) == pid or os.getpgid(int(entry.name)) == pid):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            pass
    return found


def status(url: str, auth: tuple[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(_request(url, auth), timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _request(url: str, auth: tuple[str, str] | None) -> urllib.request.Request:
    headers = {"Authorization": basic(auth)} if auth else {}
    return urllib.request.Request(url, headers=headers)


def basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(auth).encode()).decode()


def get(url: str) -> str:
    with urllib.request.urlopen(_request(url, AUTH), timeout=10) as answer:
        return str(answer.read().decode())


def flower_task(flower: FlowerProcess, job_id: str, state: str, timeout_s: float = 30
                ) -> dict[str, Any]:
    """The job's task as Flower's API shows it, once it is in `state`."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        tasks = json.loads(get(flower.url + "/api/tasks"))
        seen = next((t for t in tasks.values() if t["uuid"].startswith(job_id)), {})
        if seen.get("state") == state:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"Flower never showed {job_id[:12]} as {state}: {seen}")


def test_flower_shows_names_states_and_reasons_and_keeps_secrets(flower_env, start_worker,
                                                                 tmp_path) -> None:
    start_worker("midi,image", concurrency=3)
    flower = FlowerProcess(flower_env)
    try:
        assert AUTH[1] not in " ".join(process_args(flower.proc.pid))
        assert status(flower.url + "/api/tasks") == 401
        assert status(flower.url + "/api/tasks", ("studio", "wrong")) == 401
        midi = farm_json(flower_env, "submit", "midi", "-p", "bars=2")["job_id"]
        done = flower_task(flower, midi, "SUCCESS")
        assert done["name"] == "farm.midi" and done["args"] == f"job {midi} (midi)"

        cpu = submit_probe(flower_env, tag="midi", vram_mb=0, run_s=25)  # a long CPU job
        holder = submit_probe(flower_env, model="sd15", run_s=25)
        wait_state(flower_env, holder, {"RUNNING"})
        waiter = submit_probe(flower_env, model="sdxl", run_s=0.1)
        wait_state(flower_env, waiter, {"WAITING_GPU"}, reason_has="held by")
        waiting = flower_task(flower, waiter, "WAITING_GPU")
        assert waiting["name"] == "farm.probe" and f"held by job {holder[:8]}" in waiting["result"]
        assert flower_task(flower, holder, "RUNNING")["result"].startswith("on studio-pc/gpu0")

        pages = [get(flower.url + path) for path in
                 ("/", "/tasks", "/broker", "/workers", "/api/tasks", "/api/workers?refresh=1",
                  f"/task/{waiting['uuid']}")]
        assert all(REDIS_PASSWORD not in page and AUTH[1] not in page for page in pages)

        browser = Browser(tmp_path / "chromium")
        try:
            browser.open(flower.url + "/tasks", {"Authorization": basic(AUTH)})
            browser.wait_for("document.body.innerText.includes('WAITING_GPU')")
            assert "farm.probe" in browser.evaluate("document.body.innerText")
            assert browser.screenshot("flower-tasks.png").stat().st_size > 10_000
            browser.open(f"{flower.url}/task/{waiting['uuid']}")
            assert f"held by job {holder[:8]}" in browser.evaluate("document.body.innerText")
            browser.screenshot("flower-waiting-task.png")
        finally:
            browser.close()

        flower.stop()  # Flower forgets; the workers say again what runs and waits
        flower = FlowerProcess(flower_env)
        assert flower_task(flower, holder, "RUNNING", timeout_s=15)["name"] == "farm.probe"
        assert "held by" in flower_task(flower, waiter, "WAITING_GPU", timeout_s=15)["result"]
        assert flower_task(flower, cpu, "RUNNING", timeout_s=15)["name"] == "farm.probe"
        assert farm_json(flower_env, "wait", waiter, "--timeout", "60")["state"] == "SUCCEEDED"
        assert flower_task(flower, waiter, "SUCCESS")["name"] == "farm.probe"
    finally:
        flower.stop()
    assert REDIS_PASSWORD not in flower.log.read_text() and AUTH[1] not in flower.log.read_text()


def test_a_failed_job_is_a_failed_task_in_flower(flower_env, start_worker) -> None:
    start_worker("image")
    flower = FlowerProcess(flower_env)
    try:
        job = submit_probe(flower_env, fail="true", run_s=0)
        task = flower_task(flower, job, "FAILURE")
        assert "probe asked to fail" in task["exception"]
    finally:
        flower.stop()


def test_flower_refuses_the_network_without_auth_and_a_taken_port(farm_env) -> None:
    open_to_all = farm(farm_env, "flower", "--address", "0.0.0.0")
    assert open_to_all.returncode == 2
    assert "flower.auth" in open_to_all.stderr and len(open_to_all.stderr.splitlines()) == 1
    bad = farm(dict(farm_env, FARM_FLOWER__AUTH="nocolon"), "flower")
    assert bad.returncode == 2 and "user:password" in bad.stderr
    comma = farm(dict(farm_env, FARM_FLOWER__AUTH="studio:pa,ss"), "flower")
    assert comma.returncode == 2 and "comma" in comma.stderr and "pa,ss" not in comma.stderr
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = farm(farm_env, "flower", "--port", port)
    assert busy.returncode == 2 and f"127.0.0.1:{port}" in busy.stderr
