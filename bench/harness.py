"""A throw-away farm for benchmarks: embedded Redis, its own FARM_HOME, real worker processes."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parent.parent


# The start of a submitting child: this farm's settings and the real submit path.
_SUBMITTER = (
    "import json, sys\n"
    "from jobs.config import load_settings\n"
    "from jobs.spec import parse_spec\n"
    "from jobs.submit import submit_job\n"
    "s = load_settings()\n"
)


class BenchFarm:
    def __init__(self, home: Path, redis_url: str, extra_env: dict[str, str]) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FARM_")}
        self.env.update({"FARM_HOME": str(home), "REDIS_URL": redis_url,
                         "FARM_DB_URL": f"sqlite:///{home / 'catalog.db'}",
                         "PYTHONPATH": str(REPO), **extra_env})
        self.workers: list[subprocess.Popen[bytes]] = []

    def settings(self) -> Any:
        from jobs.config import load_settings

        return load_settings(home=self.home, redis_url=self.env["REDIS_URL"],
                             db_url=self.env["FARM_DB_URL"])

    def start_worker(self, tags: str, concurrency: int = 1) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "worker", "--tags", tags, "--concurrency",
             str(concurrency), "--loglevel", "WARNING"], env=self.env, cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        self.workers.append(proc)
        from jobs.presence import live_workers

        client = redis.Redis.from_url(self.env["REDIS_URL"])
        while proc.pid not in {int(w["pid"]) for w in live_workers(self.settings(), client)}:
            time.sleep(0.05)

    def submit(self, specs: list[dict[str, Any]]) -> list[str]:
        """Submit in one child process with this farm's environment (the real submit path)."""
        code = _SUBMITTER + (
            "print(json.dumps([submit_job(s, parse_spec(x))[0].id for x in json.load(sys.stdin)]))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(specs), env=self.env,
                             cwd=REPO, capture_output=True, text=True, check=True)
        return list(json.loads(out.stdout))

    @contextmanager
    def resident_submitter(self) -> Iterator[Callable[[list[dict[str, Any]]], list[str]]]:
        """A submitting process that stays up between jobs, as the watched folder or a studio
        tool does: a submission then costs the submit path, not a Python start and imports.
        It takes a list of specs at once (written ahead, so no round trip per job)."""
        code = _SUBMITTER + (
            "for line in sys.stdin:\n"
            "    print(submit_job(s, parse_spec(json.loads(line)))[0].id, flush=True)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], env=self.env, cwd=REPO, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        def submit(specs: list[dict[str, Any]]) -> list[str]:
            stdin.write("".join(json.dumps(spec) + "\n" for spec in specs))
            stdin.flush()
            return [stdout.readline().strip() for _ in specs]

        try:
            yield submit
        finally:
            stdin.close()
            proc.wait(30)

    def wait_all(self, ids: list[str], timeout_s: float = 1800) -> list[Any]:
        """Wait until every job is finished. One query per look, a tenth of a second apart:
        the looking must not take CPU from the farm it measures."""
        from sqlalchemy import func, select

        from storage.catalog import JOBS, Catalog
        from storage.models import TERMINAL_STATES

        catalog = Catalog(self.env["FARM_DB_URL"])
        unfinished = select(func.count()).where(JOBS.c.id.in_(ids),
                                                JOBS.c.state.not_in(TERMINAL_STATES))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with catalog.engine.connect() as conn:
                if not conn.execute(unfinished).scalar():
                    return [catalog.get_job(j) for j in ids]
            time.sleep(0.1)
        raise RuntimeError(f"jobs did not finish within {timeout_s:.0f} s")

    def stop(self) -> None:
        from jobs.processes import stop_processes

        stop_processes(self.workers)
        self.workers = []


@contextmanager
def bench_farm(extra_env: dict[str, str] | None = None) -> Iterator[BenchFarm]:
    """A fresh farm on an embedded redis-server (TCP on a free port, no persistence), its home
    in a temporary folder under FARM_BENCH_DIR if set (/dev/shm: the disk out of the picture).

    The folder is removed when the benchmark process exits, not when this farm stops: on ext4
    without a journal, allocating an inode scans past every inode freed in the last minute
    (six, while their table block is unwritten), so removing one side's thousands of files
    would make the next side's file creation slower and the benchmark would time its own
    cleanup. For the same reason, leave a few minutes between runs on such a disk.
    """
    from jobs.broker import redis_server_binary

    home = Path(tempfile.mkdtemp(prefix="farm-bench-", dir=os.environ.get("FARM_BENCH_DIR")))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    sock = home / "r.sock"
    server = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(sock),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        while not sock.exists():
            time.sleep(0.02)
        farm = BenchFarm(home, f"unix://{sock}", extra_env or {})
        try:
            yield farm
        finally:
            farm.stop()
    finally:
        server.terminate()
        server.wait()


def recorded(moment: datetime | None) -> datetime:
    """A moment the catalog recorded (it reads them back aware, in UTC)."""
    assert moment is not None
    return moment


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
