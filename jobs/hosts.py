"""The hosts of a farm of several machines: what each worker says of its host, who may join,
and what `farm hosts`, `farm gpu` and `farm queue` know of every host.

A worker announces its host (`FARM_HOST`), the machine it really runs on, its host's devices
and its catalog's kind (`workers.announce` writes `announcement`). From these a worker is
refused at start where the farm would otherwise go wrong without a word: a SQLite catalog
beside another host (each host would keep a catalog of its own), one host name on two
machines (their pids and their `gpu0` would be taken for one), or one host with two device
sets (its lease and its line would differ by worker).
"""

from __future__ import annotations

import hashlib
import time
from functools import cache
from pathlib import Path
from typing import Any

import redis

from jobs.config import FarmSettings
from jobs.errors import BadJobSpec, ConfigError, shown
from jobs.presence import live_workers
from storage.states import JobState
from storage.urls import sqlite_path

_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
ACTIVE = (JobState.RUNNING, JobState.WAITING_GPU)


@cache  # one process lives within one boot
def machine_identity() -> str:
    """This boot of this machine, hashed (a machine id is not to be shown on a network): two
    workers with one FARM_HOST and different identities are on two machines, or one of them
    is a ghost of a machine that rebooted."""
    parts = [_first_line(_MACHINE_ID_FILES), _first_line((_BOOT_ID_FILE,))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _first_line(paths: tuple[str, ...]) -> str:
    for path in paths:
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return ""


def catalog_kind(settings: FarmSettings) -> str:
    return "sqlite" if sqlite_path(settings.catalog_url) is not None else "postgresql"


def local_devices(settings: FarmSettings) -> dict[str, int]:
    """This host's devices by their local names (as farm.yaml names them), with their VRAM."""
    return {name: device.vram_mb for name, device in settings.devices.items()}


def announcement(settings: FarmSettings, nodename: str, pid: int, tags: list[str],
                 started: float) -> dict[str, Any]:
    """What a worker says of itself at every beat; `seen` is the beat's time."""
    return {"nodename": nodename, "pid": pid, "host": settings.host,
            "machine": machine_identity(), "devices": local_devices(settings),
            "catalog": catalog_kind(settings), "tags": tags, "started": started,
            "seen": time.time()}


def host_of(nodename: str | None) -> str | None:
    """The host in a worker's name (`<tags>-<pid>@<host>`, see `farm worker`)."""
    return nodename.rsplit("@", 1)[1] if nodename and "@" in nodename else None


def check_joining(settings: FarmSettings, client: redis.Redis) -> None:
    """Refuse, in one line (ConfigError, exit 2), a worker the live farm cannot take. Two
    workers starting at the same moment may both pass: the check is of what is announced."""
    workers = live_workers(settings, client)
    others = sorted({str(w.get("host")) for w in workers if w.get("host") != settings.host})
    if others and catalog_kind(settings) == "sqlite":
        raise ConfigError(f"host {shown(others[0], 64)} runs workers of this farm too, and a "
                          "SQLite catalog is one machine's: use PostgreSQL for a multi-host farm "
                          "(FARM_DB_URL=postgresql://…) on every host")
    lone = sorted({str(w.get("host")) for w in workers
                   if w.get("host") != settings.host and w.get("catalog") == "sqlite"})
    if lone:
        raise ConfigError(f"host {shown(lone[0], 64)} runs workers on a SQLite catalog, which is "
                          "one machine's: use PostgreSQL for a multi-host farm "
                          "(FARM_DB_URL=postgresql://…) on every host")
    machine, devices = machine_identity(), local_devices(settings)
    for w in workers:
        if w.get("host") != settings.host:
            continue
        if w.get("machine") not in (None, machine):
            raise ConfigError(f"FARM_HOST {shown(settings.host, 64)} is taken by worker "
                              f"{shown(w.get('nodename'), 80)} on another machine: give each "
                              "machine a FARM_HOST of its own")
        if w.get("devices") not in (None, devices):
            raise ConfigError(f"host {shown(settings.host, 64)} has devices {_named(devices)} "
                              f"here but {_named(w['devices'])} in worker "
                              f"{shown(w.get('nodename'), 80)}: a host's workers share one "
                              "config (devices in farm.yaml)")


def _named(devices: dict[str, int]) -> str:
    return ", ".join(f"{name} ({mb} MB)" for name, mb in sorted(devices.items())) or "none"


def known_devices(settings: FarmSettings, workers: list[dict[str, Any]]) -> dict[str, int]:
    """Every device of the farm, qualified by its host, with its VRAM: this host's configured
    ones and those the live workers of every host announce."""
    found = {settings.qualified(name): mb for name, mb in local_devices(settings).items()}
    for w in workers:
        for name, mb in (w.get("devices") or {}).items():
            found[f"{w.get('host')}/{name}"] = int(mb)
    return dict(sorted(found.items()))


def device_named(settings: FarmSettings, workers: list[dict[str, Any]], name: str) -> str:
    """A device the user named: `host/gpu0`, or `gpu0` for this host's own."""
    qualified = name if "/" in name else settings.qualified(name)
    known = known_devices(settings, workers)
    if qualified not in known:
        raise BadJobSpec(f"no device {shown(name, 80)}; known: {', '.join(known)}")
    return qualified


def hosts_doc(settings: FarmSettings, client: redis.Redis) -> list[dict[str, Any]]:
    """Per host: its live workers and their tags, its devices, its last beat and the jobs
    running there. A host the catalog still runs jobs on and no worker announces is lost
    (`alive` false): the reconciler re-queues its jobs once their heartbeats are gone."""
    from jobs.home import open_reader

    workers = live_workers(settings, client)
    running = open_reader(settings).list_jobs(states=ACTIVE, limit=100_000)
    names = {str(w.get("host")) for w in workers} | {h for j in running
                                                     if (h := host_of(j.worker)) is not None}
    now = time.time()
    docs = []
    for name in sorted(names):
        mine = [w for w in workers if w.get("host") == name]
        seen = max((float(w.get("seen") or w.get("started") or 0) for w in mine), default=None)
        docs.append({
            "host": name, "alive": bool(mine),
            "workers": [{"nodename": w.get("nodename"), "pid": w.get("pid"),
                         "tags": w.get("tags", [])} for w in mine],
            "tags": sorted({t for w in mine for t in w.get("tags", [])}),
            "devices": {f"{name}/{d}": mb for w in mine for d, mb in
                        (w.get("devices") or {}).items()},
            "catalog": sorted({str(w.get("catalog")) for w in mine if w.get("catalog")}),
            "last_seen_s": None if seen is None else round(now - seen, 1),
            "running": [{"job_id": j.id, "kind": j.kind, "state": str(j.state),
                         "worker": j.worker} for j in running if host_of(j.worker) == name],
        })
    return docs


def hosts_text(docs: list[dict[str, Any]]) -> str:
    if not docs:
        return "no hosts: no worker announces itself and nothing runs"
    lines = []
    for doc in docs:
        lines.append(host_line(doc))
        lines += [f"  {j['job_id'][:12]} {j['kind']} {j['state']} on {j['worker']}"
                  for j in doc["running"]]
    return "\n".join(lines)


def host_line(doc: dict[str, Any]) -> str:
    beat = ("gone: no worker answers" if not doc["alive"] else
            f"last beat {doc['last_seen_s']:.1f} s ago")
    devices = ", ".join(f"{d} ({mb} MB)" for d, mb in doc["devices"].items()) or "-"
    return (f"{doc['host']}: {len(doc['workers'])} worker(s), tags "
            f"{','.join(doc['tags']) or '-'}, devices {devices}, {beat}, "
            f"{len(doc['running'])} running")
