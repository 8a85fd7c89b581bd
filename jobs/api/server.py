"""`farm api`: the API and the studio page under uvicorn, on TCP and, when `api.uds` is set, a
unix socket.

It listens on loopback unless told otherwise, and anywhere else only with `api.token` set.
The sockets are bound here, not by uvicorn, which would make a unix socket anyone may connect
to (0666): ours is created under umask 077 and set 0600, so only the farm's user reaches it.
A stale socket left by an API that died is replaced; one that still answers is not.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from jobs.config import ApiConfig, FarmSettings
from jobs.errors import ConfigError, FarmError, shown


def check_api(conf: ApiConfig) -> None:
    """Refuse to listen off loopback without a token."""
    if not conf.on_loopback and conf.token is None:
        raise ConfigError(f"api.host {shown(conf.host, 60)} is not loopback: set api.token "
                          "(FARM_API__TOKEN, at least 16 characters) before opening the API to "
                          "the network, or leave it on 127.0.0.1")


def api_url(conf: ApiConfig) -> str:
    host = f"[{conf.host}]" if ":" in conf.host else conf.host
    return f"http://{host}:{conf.port}/"


def bind_tcp(conf: ApiConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in conf.host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # a kept-alive connection's every answer waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((conf.host, conf.port))
    except OSError as exc:
        sock.close()
        raise FarmError(f"the API cannot listen on {conf.host}:{conf.port} "
                        f"({exc.strerror or exc}); set api.port or api.host") from None
    return sock


def port_problem(conf: ApiConfig) -> str | None:
    """Why the API cannot listen where it is told to (a taken port, say), or None."""
    try:
        bind_tcp(conf).close()
    except FarmError as exc:
        return str(exc)
    return None


def bind_unix(path: Path) -> socket.socket:
    """A unix socket at `path`, mode 0600 from the start (never a moment more open)."""
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
    except OSError as exc:
        sock.close()
        raise FarmError(f"the API cannot make its socket {path} ({exc.strerror or exc}); "
                        "set api.uds to a path in a folder of yours") from None
    finally:
        os.umask(umask)
    return sock


def _clear_stale(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise FarmError(f"api.uds {path} exists and is not a socket of yours; remove it or "
                        "choose another path")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(str(path)) == 0:
            raise FarmError(f"another API answers on {path}; stop it or set another api.uds")
    path.unlink()


def run_api(settings: FarmSettings, say: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn's own handlers: open streams are closed)."""
    import uvicorn

    from jobs.api.app import make_app

    conf = settings.api
    check_api(conf)
    sockets = [bind_tcp(conf)]
    if conf.uds is not None:
        sockets.append(bind_unix(conf.uds))
    auth = "bearer token" if conf.token is not None else "no token (loopback names only)"
    where = api_url(conf) + (f" and {conf.uds}" if conf.uds is not None else "")
    say(f"API and studio page at {where} ({auth})")
    config = uvicorn.Config(make_app(settings), log_level="info", proxy_headers=False,
                            server_header=False, timeout_graceful_shutdown=3, lifespan="on")

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Here, not after run(): uvicorn ends by raising the signal that stopped it again.
            await super().shutdown(sockets)
            if conf.uds is not None:
                conf.uds.unlink(missing_ok=True)

    Server(config).run(sockets=sockets)
