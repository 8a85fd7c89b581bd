"""`farm up` rides out what used to end it: a poison message on any queue (also after a restart,
with the AOF), and an outage of an external Redis; it is serving jobs afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from jobs.broker import redis_server_binary
from tests.conftest import _free_port, farm, farm_json
from tests.test_farm_up import FarmUp, _embedded_env, _stop

POISON = [
    b"not json",  # not a message at all
    b'{"body": "e30=", "headers": {"id": "ffff0000.1", "task": "farm.midi"}, "properties": '
    b'{"delivery_tag": "t1", "delivery_info": {"exchange": "midi", "routing_key": "midi"}, '
    b'"body_encoding": "base64", "priority": 0}, "content-type": "application/json", '
    b'"content-encoding": "utf-8"}',  # an envelope whose body lacks the task's arguments
    b'{"body": "W1tdLCB7fSwge31d", "headers": {"id": "ffff0002.1", "task": "farm.midi"}, '
    b'"properties": {"delivery_tag": "t3", "body_encoding": "base64", "priority": 0}, '
    b'"content-type": "application/json", "content-encoding": "utf-8"}',  # headers cut short
    b"{}",  # JSON, but no envelope
    b'"just a string"',
    b'{"body": "%%% not base64", "headers": {"id": "ffff0001.1", "task": "farm.midi"}, '
    b'"properties": {"delivery_tag": "t2", "body_encoding": "base64", "priority": 0}}',
]


def _until(condition: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _serves(env: dict[str, str]) -> None:
    job = farm_json(env, "submit", "midi", "-p", "bars=2")["job_id"]
    assert farm_json(env, "wait", job, "--timeout", "60", timeout=90)["state"] == "SUCCEEDED"


def _dead(env: dict[str, str]) -> list[str]:
    """What `farm doctor` says of each message set aside."""
    checks = json.loads(farm(env, "doctor", "--json").stdout)
    return [c["detail"] for c in checks if c["check"] == "dead letter"]


def test_poison_messages_are_set_aside_and_the_farm_keeps_serving(farm_env, tmp_path) -> None:
    env = _embedded_env(farm_env, tmp_path)
    up = FarmUp(env, tmp_path / "up.log")
    client = redis.Redis(unix_socket_path=str(Path(env["FARM_HOME"]) / "run" / "redis.sock"))
    ns = env["FARM_NAMESPACE"]
    try:
        for queue in ("audio", "midi"):  # nobody consumes audio here; a worker consumes midi
            for raw in POISON:
                client.lpush(f"{ns}:{queue}", raw)
        _until(lambda: client.llen(f"{ns}:dead") >= 2 * len(POISON), 30,
               "the poison was not set aside")
        assert all(client.llen(f"{ns}:{q}") == 0 for q in ("audio", "midi"))
        _serves(env)
        assert up.proc.poll() is None
        log = up.log.read_text()
        assert "exited" not in log, log  # no worker died of it either
        whys = [json.loads(raw)["why"] for raw in client.lrange(f"{ns}:dead", 0, -1)]
        assert any("JSONDecodeError" in w for w in whys) and \
            any(w.startswith("not a task message") for w in whys), whys
        assert len(_dead(env)) == 5  # doctor shows the newest few, and says how many
        # One more poison entry, and a restart with it in the AOF: the farm comes up and serves.
        client.lpush(f"{ns}:audio", b"still not json")
        _stop(up)
        up = FarmUp(env, up.log)
        _until(lambda: client.llen(f"{ns}:audio") == 0, 30, "the poison survived the restart")
        _serves(env)
    finally:
        _stop(up)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[Callable[[], None], Callable[[], None], int]]:
    """A redis-server the test starts and stops, on a port of its own."""
    port, procs = _free_port(), []

    def start() -> None:
        procs.append(subprocess.Popen([redis_server_binary(), "--port", str(port), "--save", "",
                                       "--appendonly", "no", "--dir", str(tmp_path)],
                                      stdout=subprocess.DEVNULL))
        _until(lambda: _answers(port), 10, "redis-server did not start")

    def stop() -> None:
        procs[-1].send_signal(signal.SIGTERM)
        procs[-1].wait(10)

    start()
    yield start, stop, port
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def test_an_outage_of_an_external_redis_is_ridden_out(farm_env, tmp_path, own_redis) -> None:
    start, stop, port = own_redis
    env = _embedded_env(farm_env, tmp_path)
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    up = FarmUp(env, tmp_path / "up.log")
    try:
        _serves(env)
        stop()
        _until(lambda: "retrying" in up.log.read_text(), 30, "farm up never said Redis was away")
        time.sleep(8)  # the outage itself: eight seconds without Redis, as the tester had it
        assert up.proc.poll() is None, up.log.read_text()
        start()
        _until(lambda: "working again" in up.log.read_text(), 60, "farm up never came back")
        _serves(env)
        assert up.proc.poll() is None and "exited" not in up.log.read_text(), up.log.read_text()
    finally:
        _stop(up)
        assert not up.group_pids(), "farm up left processes behind"


def test_an_embedded_redis_that_dies_is_started_again(farm_env, tmp_path) -> None:
    env = _embedded_env(farm_env, tmp_path)
    up = FarmUp(env, tmp_path / "up.log")
    sock = Path(env["FARM_HOME"]) / "run" / "redis.sock"
    try:
        queued = farm_json(env, "submit", "midi", "-p", "bars=2")["job_id"]
        pid = int(redis.Redis(unix_socket_path=str(sock)).info("server")["process_id"])
        os.kill(pid, signal.SIGKILL)
        _until(lambda: "starting it again" in up.log.read_text(), 30, "Redis was not restarted")
        _until(lambda: _pid_of(sock) not in (None, pid), 30, "no new Redis answers")
        assert farm_json(env, "wait", queued, "--timeout", "60")["state"] == "SUCCEEDED"
        _serves(env)
    finally:
        _stop(up)


def _pid_of(sock: Path) -> int | None:
    try:
        return int(redis.Redis(unix_socket_path=str(sock)).info("server")["process_id"])
    except (redis.RedisError, OSError):
        return None
