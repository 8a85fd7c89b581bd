"""`farm demo`: from nothing running to a MIDI file, then back to nothing running."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs.broker import EmbeddedRedis, check_redis
from jobs.config import FarmSettings
from jobs.home import ensure_home
from jobs.intent_words import params_from_words
from jobs.processes import start_worker, stop_processes, wait_for_workers
from jobs.queries import wait_for_job
from jobs.spec import parse_spec
from jobs.submit import submit_job


def run_demo(settings: FarmSettings, intent: str, seed: int, timeout_s: float,
             say: Callable[[str], None] | None) -> dict[str, Any]:
    def tell(line: str) -> None:
        if say is not None:
            say(line)

    ensure_home(settings)
    spec = parse_spec({"kind": "midi", "seed": seed, "params": params_from_words(intent),
                       "project": "demo"}, "intent")
    embedded = EmbeddedRedis(settings, persistent=False) if settings.redis_url is None else None
    workers = []
    try:
        if embedded is not None and embedded.start():
            tell(f"started embedded Redis on {embedded.socket}")
        client = check_redis(settings)
        workers.append(start_worker(settings, ["midi"]))
        wait_for_workers(settings, client, {workers[0].pid})
        tell(f"worker {workers[0].pid} ready; rendering '{intent}' (seed {seed})")
        job, _ = submit_job(settings, spec)
        doc = wait_for_job(settings, job.id, timeout_s)
    finally:
        stop_processes(workers)
        if embedded is not None:
            embedded.stop()
    for artifact in doc["artifacts"]:
        tell(f"  {artifact['path']}")
    tell(f"job {doc['job_id']} {doc['state']}; everything the demo started is stopped")
    return doc
