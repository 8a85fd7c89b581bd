"""`farm doctor`: is this machine ready to run the farm, and if not, what to do about it."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import redis

from jobs.broker import check_redis, redis_server_binary
from jobs.config import FarmSettings
from jobs.home import ensure_home, open_catalog
from jobs.kinds import TAGS
from jobs.presence import live_workers
from jobs.views import queue_length


def _check(name: str, status: str, detail: str, exit_code: int = 3) -> dict[str, Any]:
    return {"check": name, "status": status, "detail": detail, "exit_code": exit_code}


def run_checks(settings: FarmSettings) -> list[dict[str, Any]]:
    checks = [_check("python", "ok", sys.version.split()[0])]
    for name, probe in (("farm_home", _home), ("catalog", _catalog), ("redis", _redis)):
        try:
            checks.append(_check(name, "ok", probe(settings)))
        except Exception as exc:  # each failure is reported, not raised
            checks.append(_check(name, "fail", str(exc), getattr(exc, "exit_code", 3)))
    if checks[-1]["status"] == "ok":
        checks += _workers(settings)
    for module in ("torch", "diffusers", "llama_cpp"):
        found = importlib.util.find_spec(module) is not None
        checks.append(_check(module, "ok" if found else "info",
                             "installed" if found else "not installed (optional extra)"))
    return checks


def _home(settings: FarmSettings) -> str:
    return f"{ensure_home(settings)} is writable"


def _catalog(settings: FarmSettings) -> str:
    counts = open_catalog(settings).count_by_state()
    return f"{settings.catalog_url.split('@')[-1]}: {sum(counts.values())} jobs"


def _redis(settings: FarmSettings) -> str:
    if settings.redis_url is None:
        binary = redis_server_binary()
        try:
            check_redis(settings)
        except Exception:
            return f"embedded (not running now; `farm up` starts {binary})"
        return f"embedded at {settings.embedded_socket}"
    check_redis(settings)
    return "reachable"


def _workers(settings: FarmSettings) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(settings.redis_client_url, socket_timeout=3)
    try:
        client.ping()
        workers = live_workers(settings, client)
    except (redis.RedisError, OSError):
        return []
    out = []
    for tag in TAGS:
        serving = [w for w in workers if tag in w.get("tags", [])]
        waiting = queue_length(settings, client, tag)
        status = "ok" if serving or not waiting else "warn"
        out.append(_check(f"queue {tag}", status,
                          f"{len(serving)} worker(s), {waiting} message(s) waiting"))
    return out


def doctor_text(checks: list[dict[str, Any]]) -> str:
    marks = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "info": "--  "}
    return "\n".join(f"{marks[c['status']]} {c['check']:<12} {c['detail']}" for c in checks)
