"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temp dir, a free port, trust auth."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")  # Debian's layout: /usr/lib/postgresql/<version>/bin
HINT = "install it with `apt-get install postgresql` (or `make system-packages`), or set FARM_TEST_PG_URL"
READY_TIMEOUT_S = 30.0


class Unavailable(RuntimeError):
    """No PostgreSQL server can be had; the message says what is missing and how to get it."""


def answers(url: str, timeout_s: int = 2) -> bool:
    """Whether a PostgreSQL server accepts a connection at url."""
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(url, connect_timeout=timeout_s):
            return True
    except psycopg.Error:
        return False


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb, pg_ctl and postgres."""
    found = [p.parent for p in PG_ROOT.glob("*/bin/initdb")
             if (p.parent / "pg_ctl").exists() and (p.parent / "postgres").exists()]
    return max(found, key=lambda d: [int(x) for x in d.parent.name.split(".") if x.isdigit()],
               default=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A cluster this process owns under a temp dir; `stop` shuts it down and removes it."""

    def __init__(self) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise Unavailable("psycopg is not installed: pip install -e '.[dev]'") from exc
        bin_ = bin_dir()
        if bin_ is None:
            raise Unavailable(f"no PostgreSQL server found (no {PG_ROOT}/*/bin/initdb): {HINT}")
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise Unavailable(f"running as root and there is no `postgres` user to run "
                                  f"initdb as: {HINT}") from exc
            if shutil.which("runuser") is None:
                raise Unavailable("running as root and `runuser` (util-linux) is missing")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.bin, self.port = bin_, _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="farm-pg-"))
        if self.as_user:
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self._start()
        except (OSError, subprocess.SubprocessError) as exc:
            self.stop()
            raise Unavailable(f"own PostgreSQL server could not start: {exc}") from exc
        except BaseException:
            self.stop()
            raise

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_user, *args], cwd=self.root, capture_output=True, text=True,
                              timeout=120)

    def _start(self) -> None:
        init = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                         "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
        if init.returncode != 0:
            output = " ".join((init.stderr or init.stdout).split())[-300:]
            raise Unavailable(f"initdb failed: {output}; set FARM_TEST_PG_URL to a server that answers")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [*self.as_user, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-h", "127.0.0.1", "-k", str(self.root), "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not answers(self.url, timeout_s=1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = " ".join(self.log.read_text(errors="replace").split())[-300:]
                raise Unavailable(f"own PostgreSQL server did not come up on port {self.port}: {tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
