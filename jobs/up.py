"""`farm up`: a local farm in one command, stopped cleanly by Ctrl-C or SIGTERM.

Redis (embedded with AOF persistence under FARM_HOME unless REDIS_URL is set), one worker
per enabled tag, the watcher, the API with the studio page and Flower (as `up` in the config
says), and the reconciler every few seconds. It rides out trouble rather than dying of it: a
worker, the watcher, the API or Flower that exits is started again, an embedded Redis that
dies is started again (its AOF keeps the queue), and while Redis or the catalog is away the
loop says so once, backs off, and says so again when they are back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from subprocess import Popen

from jobs.api.server import api_url, check_api
from jobs.api.server import port_problem as api_port_problem
from jobs.broker import EmbeddedRedis, check_redis
from jobs.config import FarmSettings
from jobs.errors import BadJobSpec, FarmError
from jobs.flower import check_flower, flower_url, port_problem
from jobs.holds import release_held
from jobs.home import CLI_DB_RETRY_S, ensure_home, open_catalog
from jobs.kinds import TAGS, check_policies
from jobs.processes import start_child, start_worker, stop_on_signals, stop_processes, wait_for_workers
from jobs.queue_control import pause_line
from jobs.reconcile import reconcile_once
from jobs.trouble import Trouble
from storage.errors import StorageError

MAX_PAUSE_S = 30.0


def run_farm(settings: FarmSettings, tags: list[str], say: Callable[[str], None],
             stop: threading.Event | None = None) -> None:
    unknown = [t for t in tags if t not in TAGS]
    if unknown or not tags:
        raise BadJobSpec(f"tags {unknown or tags}: known tags are {', '.join(TAGS)}")
    check_policies(settings)
    ensure_home(settings)
    starters = _starters(settings, tags, say)  # a Flower the config forbids stops us here
    stop = stop or threading.Event()
    stop_on_signals(stop)
    embedded = EmbeddedRedis(settings, persistent=True) if settings.redis_url is None else None
    children: dict[str, Popen[bytes]] = {}
    try:
        owned = embedded is not None and embedded.start()
        if owned and embedded is not None:
            say(f"embedded Redis on {embedded.socket} (AOF in {embedded.data_dir})")
        client = check_redis(settings)
        children = {name: start() for name, start in starters.items()}
        workers = [f"worker for {tag}" for tag in tags]
        wait_for_workers(settings, client, {children[w].pid for w in workers}, stop=stop)
        say(f"farm up: workers for {', '.join(tags)}"
            + "".join(f", {name}" for name in children if name not in workers)
            + "; Ctrl-C stops it")
        if (paused := pause_line(settings, open_catalog(settings, CLI_DB_RETRY_S))) is not None:
            say(f"the farm stays paused: {paused}")
        _keep_running(settings, embedded if owned else None, children, starters, say, stop)
    finally:
        say("stopping workers (running jobs finish, or go back to the queue)")
        stop_processes(list(children.values()), timeout_s=settings.shutdown_grace_s)
        if embedded is not None:
            embedded.stop()
        say("farm stopped")


def _starters(settings: FarmSettings, tags: list[str], say: Callable[[str], None]
              ) -> dict[str, Callable[[], Popen[bytes]]]:
    """What this farm runs, by name: a worker per tag, and as the config says the watcher
    (every watched folder), the API and Flower (each refused off loopback without its token
    or auth; a taken port is said and the farm runs without it)."""
    starters: dict[str, Callable[[], Popen[bytes]]] = {
        f"worker for {tag}": partial(start_worker, settings, [tag]) for tag in tags}
    if settings.up.watch:
        folders = ", ".join(str(f.dir) for f in settings.watch_folders)
        starters[f"watcher ({folders})"] = partial(start_child, settings, ["watch"], "watch")
    if settings.up.api:
        check_api(settings.api)
        if (problem := api_port_problem(settings.api)) is not None:
            say(f"API not started: {problem}")
        else:
            starters[f"API and studio page at {api_url(settings.api)}"] = partial(
                start_child, settings, ["api"], "api")
    if settings.up.flower:
        check_flower(settings.flower)
        if (problem := port_problem(settings.flower)) is not None:
            say(f"Flower not started: {problem}")
        else:
            starters[f"Flower at {flower_url(settings.flower)}"] = partial(
                start_child, settings, ["flower"], "flower")
    return starters


def _keep_running(settings: FarmSettings, embedded: EmbeddedRedis | None,
                  children: dict[str, Popen[bytes]],
                  starters: dict[str, Callable[[], Popen[bytes]]], say: Callable[[str], None],
                  stop: threading.Event) -> None:
    """Until stopped: keep the embedded Redis (if this farm started it) and every child
    (workers, watcher, Flower) running, and reconcile; trouble is said once and backed off
    from, never fatal."""
    every = min(settings.reconcile_every_s, 5.0)
    trouble = Trouble(say, "farm up", "retrying (running jobs keep their place)")
    pause = every
    while not stop.is_set():
        restarted = False
        try:
            if embedded is not None and not embedded.running():  # the one this farm started
                say("embedded Redis is not running; starting it again (its AOF keeps the queue)")
                embedded.start()
            for name, proc in list(children.items()):
                if proc.poll() is not None and not stop.is_set():
                    # Said once while it keeps exiting; the pause grows meanwhile (below).
                    trouble.failed(f"{name} exited ({proc.returncode}); starting another "
                                   f"(its log: {settings.home_dir / 'logs'})")
                    children[name] = starters[name]()
                    restarted = True
            catalog = open_catalog(settings, CLI_DB_RETRY_S)  # the loop has more to look after
            reconcile_once(settings, catalog, check_redis(settings))
            release_held(settings, catalog, check_redis(settings))
        except (FarmError, StorageError) as exc:
            trouble.failed(str(exc))
            pause = min(pause * 2, MAX_PAUSE_S)
        except Exception as exc:  # noqa: BLE001  (a pass's bug must not take the farm down)
            trouble.failed(f"reconciler pass failed ({type(exc).__name__}: {exc})")
            pause = min(pause * 2, MAX_PAUSE_S)
        else:
            if restarted:
                pause = min(pause * 2, MAX_PAUSE_S)
            else:
                trouble.cleared()
                pause = every
        stop.wait(pause)
