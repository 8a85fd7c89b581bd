"""`farm flower`: Flower, the dashboard, on the farm's broker.

It listens on loopback unless told otherwise, and anywhere else only with basic auth. The
credentials reach Flower through this process's environment (FLOWER_BASIC_AUTH), never its
command line, which every user of the machine can read. Flower keeps what it saw in memory, a
bounded number of tasks, lost when it stops: the catalog (`farm ls`, `farm status`) is the
history; the workers send the farm's own states (WAITING_GPU, RUNNING) again while a job lives,
so a restarted Flower still shows what runs and waits.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from jobs.config import FarmSettings, FlowerConfig
from jobs.errors import ConfigError, FarmError, shown


def check_flower(conf: FlowerConfig) -> None:
    """Refuse to listen off loopback without auth."""
    if not conf.on_loopback and conf.auth is None:
        raise ConfigError(f"flower.address {shown(conf.address, 60)} is not loopback: set "
                          "flower.auth to user:password (FARM_FLOWER__AUTH) before opening "
                          "Flower to the network, or leave it on 127.0.0.1")


def port_problem(conf: FlowerConfig) -> str | None:
    """Why Flower cannot listen where it is told to (a taken port, say), or None."""
    try:
        family = socket.AF_INET6 if ":" in conf.address else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Flower's server
            probe.bind((conf.address, conf.port))
    except OSError as exc:
        return (f"Flower cannot listen on {conf.address}:{conf.port} ({exc.strerror or exc}); "
                "set flower.port or flower.address")
    return None


def flower_url(conf: FlowerConfig) -> str:
    host = f"[{conf.address}]" if ":" in conf.address else conf.address
    return f"http://{host}:{conf.port}/"


def run_flower(settings: FarmSettings, say: Callable[[str], None]) -> int:
    """Serve Flower until stopped; its exit code."""
    from jobs.app import make_app

    conf = settings.flower
    check_flower(conf)
    if (problem := port_problem(conf)) is not None:
        raise FarmError(problem)
    for name in [n for n in os.environ if n.startswith("FLOWER_")]:
        del os.environ[name]  # Flower reads its options from FLOWER_*: only the farm's count
    if conf.auth is not None:
        os.environ["FLOWER_BASIC_AUTH"] = conf.auth.get_secret_value()
    auth = "basic auth" if conf.auth is not None else "no auth (loopback only)"
    say(f"Flower at {flower_url(conf)} ({auth}); it keeps recent tasks in memory only: "
        "the catalog is the history (farm ls, farm status JOB)")
    args = ["flower", f"--address={conf.address}", f"--port={conf.port}",
            f"--max_tasks={conf.max_tasks}", "--persistent=False", "--purge_offline_workers=60",
            "--enable_events=True", "--logging=warning"]
    code = make_app(settings).start(args)
    return int(code or 0)
