"""Starting and stopping the farm's own processes (workers) so that none is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

import redis

from jobs.broker import die_with_parent
from jobs.config import FarmSettings
from jobs.errors import BrokerUnreachable, FarmError
from jobs.presence import live_workers


def start_worker(settings: FarmSettings, tags: list[str], concurrency: int = 1) -> subprocess.Popen[bytes]:
    """`farm worker` as a child process that dies with us; its environment names our Redis."""
    return start_child(settings, ["worker", "--tags", ",".join(tags), "--concurrency",
                                  str(concurrency), "--loglevel", "INFO"],
                       f"worker-{'+'.join(tags)}")


def start_child(settings: FarmSettings, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
    """A `farm` command (a worker, the watcher, Flower) as a child process that dies with us;
    its environment names our Redis and catalog. Secrets stay in the environment and the
    config file, never on a command line others can read."""
    env = dict(os.environ)
    env["FARM_HOME"] = str(settings.home_dir)
    env.pop("FARM_REDIS_URL", None)  # it would win over the REDIS_URL given here
    env["REDIS_URL"] = settings.redis_client_url
    env.setdefault("FARM_THREADS", str(settings.threads))
    env["FARM_DB_URL"] = settings.catalog_url
    if settings.config_file is not None:
        env["FARM_CONFIG"] = str(settings.config_file)
    # -P: the folder `farm up` was started in is no place to import the farm from.
    args = [sys.executable, "-P", "-m", "jobs.cli", *command]
    logs = settings.home_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Each child's output goes to a log of its own, so the CLI's stdout stays clean for --json.
    with open(logs / f"{log_name}.log", "ab") as log:
        return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def wait_for_workers(settings: FarmSettings, client: redis.Redis, pids: set[int],
                     timeout_s: float = 60.0, stop: threading.Event | None = None) -> None:
    """Block until every worker process in `pids` has announced itself in Redis (or `stop`
    is set: Ctrl-C during the start)."""
    deadline = time.monotonic() + timeout_s
    stop = stop or threading.Event()
    seen: set[int] = set()
    while time.monotonic() < deadline and not stop.is_set():
        try:
            seen = {int(w["pid"]) for w in live_workers(settings, client)}
        except redis.RedisError as exc:
            raise BrokerUnreachable(f"Redis went away while the workers started: {exc}") from exc
        if pids <= seen:
            return
        stop.wait(0.1)
    if not stop.is_set():
        raise FarmError(f"workers {sorted(pids - seen)} did not start within {timeout_s:.0f} s; "
                        f"see {settings.home_dir / 'logs'}")


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout_s: float = 30.0) -> None:
    """SIGTERM (Celery's warm shutdown: finish the running job), then SIGKILL stragglers."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in processes:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_on_signals(stop: threading.Event, *wake: threading.Event) -> None:
    """Ctrl-C and SIGTERM set `stop`, and the `wake` events a loop may be waiting on (in the
    main thread; elsewhere the caller stops it)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()
        for event in wake:
            event.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

