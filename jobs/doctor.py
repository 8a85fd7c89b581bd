"""`farm doctor`: is this machine ready to run the farm, and if not, what to do about it.

Each check says ok, warn, fail or info, with the fix in the same line: the home and who may
read it, the catalog (and, when it is damaged, how to recover it), Redis, the workers per
queue, the disk guard, the user's pause and the workers' blocklist, the hosts, messages set
aside as unreadable, and the optional libraries.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.config import FarmSettings
from jobs.errors import shown
from jobs.kinds import TAGS
from storage.urls import sqlite_path

Check = dict[str, Any]


def _check(name: str, status: str, detail: str, exit_code: int = 3) -> Check:
    return {"check": name, "status": status, "detail": detail, "exit_code": exit_code}


def run_checks(settings: FarmSettings) -> list[Check]:
    checks = [_check("python", "ok", sys.version.split()[0])]
    probes: list[tuple[str, Callable[[FarmSettings], str]]] = [
        ("farm_home", _home), ("catalog", _catalog), ("redis", _redis)]
    for name, probe in probes:
        try:
            checks.append(_check(name, "ok", probe(settings)))
        except Exception as exc:  # each failure is reported, not raised
            checks.append(_check(name, "fail", str(exc), getattr(exc, "exit_code", 3)))
    redis_ok = any(c["check"] == "redis" and c["status"] == "ok" for c in checks)
    checks += _permissions(settings)
    checks.append(_disk(settings))
    if redis_ok:
        checks += _queues(settings)
    for module in ("torch", "diffusers", "llama_cpp"):
        found = importlib.util.find_spec(module) is not None
        checks.append(_check(module, "ok" if found else "info",
                             "installed" if found else "not installed (optional extra)"))
    return checks


def _home(settings: FarmSettings) -> str:
    from jobs.home import ensure_home

    return f"{ensure_home(settings)} is writable"


def _catalog(settings: FarmSettings) -> str:
    from jobs.home import open_catalog
    from storage.errors import CatalogDamaged

    try:
        counts = open_catalog(settings).count_by_state()
        damage = _sqlite_damage(settings)
    except CatalogDamaged as exc:
        raise _Damage(f"{exc.what}; {_recovery(settings)}") from exc
    if damage:
        raise _Damage(f"integrity check failed ({damage}); {_recovery(settings)}")
    return f"{settings.catalog_url.split('@')[-1]}: {sum(counts.values())} jobs"


class _Damage(Exception):
    exit_code = 3


def _sqlite_damage(settings: FarmSettings) -> str | None:
    """What SQLite's quick check finds wrong with the catalog file, if anything."""
    if (path := sqlite_path(settings.catalog_url)) is None:
        return None
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        found = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    return None if found == ["ok"] else "; ".join(found)[:300]


def _recovery(settings: FarmSettings) -> str:
    from jobs.backup import latest_backup

    if (path := sqlite_path(settings.catalog_url)) is None:
        return "restore the database from your PostgreSQL backup (pg_restore)"
    backup = latest_backup(settings)
    restore = (f"or stop the farm and copy the backup {backup} over it" if backup else
               "no backup found under FARM_HOME/backups (`farm catalog backup` makes one)")
    return (f"stop the farm, then recover what is readable with `sqlite3 {path} .recover "
            f"| sqlite3 {path}.recovered` and move that into place, {restore}")


def _redis(settings: FarmSettings) -> str:
    from jobs.broker import check_redis, redis_server_binary

    if settings.redis_url is None:
        binary = redis_server_binary()
        try:
            check_redis(settings)
        except Exception as exc:
            if "refuses" in str(exc) or "not private" in str(exc):
                raise
            return f"embedded (not running now; `farm up` starts {binary})"
        return f"embedded at {settings.embedded_socket}"
    check_redis(settings)
    return "reachable"


def _permissions(settings: FarmSettings) -> list[Check]:
    """Files others may read or write: the farm's state is its user's alone."""
    home = settings.home_dir
    wanted = [(home, 0o700), (home / "run", 0o700), (home / "redis", 0o700),
              (home / "logs", 0o700), (home / "backups", 0o700)]
    wanted += [(home / f"catalog.db{end}", 0o600) for end in ("", "-wal", "-shm")]
    for folder in (home / "redis", home / "logs", home / "backups"):
        if folder.is_dir():
            wanted += [(path, 0o600) for path in sorted(folder.rglob("*")) if path.is_file()]
    if settings.redis_url is None:
        wanted.append((settings.embedded_socket.parent, 0o700))
    problems = [p for path, mode in wanted if (p := _too_open(path, mode)) is not None]
    if not problems:
        return [_check("permissions", "ok", "the farm's files are private to you")]
    return [_check("permissions", "fail", problem, 2) for problem in problems[:10]]


def _too_open(path: Path, mode: int) -> str | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if info.st_uid != os.getuid():
        return f"{path} belongs to uid {info.st_uid}, not to you: move it away"
    extra = stat.S_IMODE(info.st_mode) & ~mode & 0o077
    if extra:
        return f"{path} is open to others (mode {stat.S_IMODE(info.st_mode):o}): chmod {mode:o} {path}"
    return None


def _queues(settings: FarmSettings) -> list[Check]:
    import redis

    from jobs.broker import redis_client
    from jobs.dead_letters import dead_letters
    from jobs.presence import live_workers
    from jobs.views import queue_length

    client = redis_client(settings)
    try:
        workers = live_workers(settings, client)
        dead = dead_letters(settings, client)
        waiting = {tag: queue_length(settings, client, tag) for tag in TAGS}
    except (redis.RedisError, OSError):
        return []
    out = []
    for tag in TAGS:
        serving = [w for w in workers if tag in w.get("tags", [])]
        status = "ok" if serving or not waiting[tag] else "warn"
        out.append(_check(f"queue {tag}", status,
                          f"{len(serving)} worker(s), {waiting[tag]} message(s) waiting"))
    out += _holds(settings, client) + _hosts(settings, client)
    if not dead:
        return out + [_check("dead letters", "ok", "no unreadable messages set aside")]
    out.append(_check("dead letters", "warn",
                      f"{len(dead)} unreadable message(s) set aside (not run); newest from "
                      f"{dead[-1].get('where', '?')}: {dead[-1].get('why', '?')}", 2))
    for letter in dead[-5:]:
        out.append(_check("dead letter", "info",
                          f"{letter.get('where', '?')}: {letter.get('why', '?')}: "
                          f"{shown(letter.get('sample', ''), 80)}"))
    return out


def _disk(settings: FarmSettings) -> Check:
    from jobs.holds import disk_low, free_mb

    if (low := disk_low(settings)) is not None:
        return _check("disk", "warn", f"{low}; heavy jobs wait until there is room", 2)
    return _check("disk", "ok", f"{free_mb(settings)} MB free under {settings.home_dir} "
                                f"(heavy jobs wait below {settings.disk_min_free_mb} MB)")


def _holds(settings: FarmSettings, client: Any) -> list[Check]:
    """The user's pause, and the workers that stopped taking a kind (the blocklist)."""
    from jobs.holds import ALL_TAGS, pause_of, pause_reason, pause_seen, paused_at
    from jobs.home import open_catalog
    from jobs.presence import blocked_workers

    out = []
    try:
        pause = pause_of(open_catalog(settings))  # the truth; Redis's copy may lag it
    except Exception:  # the catalog check above says why it cannot be read
        pause = pause_seen(settings, client)
    for tag in sorted(pause):
        if (at := paused_at(pause, tag)) is not None:
            what = "everything" if tag == ALL_TAGS else f"queue {tag}"
            out.append(_check("paused", "info", f"{what} {pause_reason(at)}"))
    for kinds in blocked_workers(settings, client).values():
        out += [_check("blocklist", "warn", why, 2) for why in kinds.values()]
    return out


def _hosts(settings: FarmSettings, client: Any) -> list[Check]:
    """Every host of the farm; one whose workers are gone while it runs jobs is a warning
    (the reconciler re-queues them). The catalog's own trouble is its own check's."""
    from jobs.hosts import host_line, hosts_doc

    try:
        docs = hosts_doc(settings, client)
    except Exception:
        return []
    return [_check("host", "ok", host_line(d)) if d["alive"] else
            _check("host", "warn", f"{host_line(d)}; its jobs are re-queued once their "
                                   "heartbeats are gone", 2) for d in docs]


def doctor_text(checks: list[Check]) -> str:
    marks = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "info": "--  "}
    return "\n".join(f"{marks[c['status']]} {c['check']:<12} {c['detail']}" for c in checks)
