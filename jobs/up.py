"""`farm up`: a local farm in one command, stopped cleanly by Ctrl-C or SIGTERM.

Redis (embedded with AOF persistence under FARM_HOME unless REDIS_URL is set), one worker
per enabled tag (restarted if it dies), and the reconciler every few seconds.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from subprocess import Popen
from types import FrameType

from jobs.broker import EmbeddedRedis, check_redis
from jobs.config import FarmSettings
from jobs.errors import BadJobSpec
from jobs.home import ensure_home, open_catalog
from jobs.kinds import TAGS
from jobs.processes import start_worker, stop_processes, wait_for_workers
from jobs.reconcile import reconcile_once


def run_farm(settings: FarmSettings, tags: list[str], say: Callable[[str], None],
             stop: threading.Event | None = None) -> None:
    unknown = [t for t in tags if t not in TAGS]
    if unknown or not tags:
        raise BadJobSpec(f"tags {unknown or tags}: known tags are {', '.join(TAGS)}")
    ensure_home(settings)
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    embedded = EmbeddedRedis(settings, persistent=True) if settings.redis_url is None else None
    workers: dict[str, Popen[bytes]] = {}
    try:
        if embedded is not None and embedded.start():
            say(f"embedded Redis on {embedded.socket} (AOF in {embedded.data_dir})")
        client = check_redis(settings)
        catalog = open_catalog(settings)
        workers = {tag: start_worker(settings, [tag]) for tag in tags}
        wait_for_workers(settings, client, {p.pid for p in workers.values()})
        say(f"farm up: workers for {', '.join(tags)}; Ctrl-C stops it")
        while not stop.is_set():
            reconcile_once(settings, catalog, client)
            for tag, proc in list(workers.items()):
                if proc.poll() is not None and not stop.is_set():
                    say(f"worker for {tag} exited ({proc.returncode}); starting another")
                    workers[tag] = start_worker(settings, [tag])
            stop.wait(min(settings.reconcile_every_s, 5.0))
    finally:
        say("stopping workers (running jobs finish, or go back to the queue)")
        stop_processes(list(workers.values()), timeout_s=settings.shutdown_grace_s)
        if embedded is not None:
            embedded.stop()
        say("farm stopped")


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
