"""`farm demo`: from nothing running to a MIDI file, then back to nothing running.

It runs the studio graph of `farm render` (intent → midi) on one worker for both queues. With
no `llm.model_path` configured the brain reads the intent by rules alone, and says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.broker import EmbeddedRedis, check_redis
from jobs.config import FarmSettings
from jobs.home import ensure_home
from jobs.processes import start_worker, stop_processes, wait_for_workers
from jobs.render import plan_render, submit_render, wait_render


def run_demo(settings: FarmSettings, intent: str, seed: int, timeout_s: float,
             say: Callable[[str], None] | None) -> dict[str, Any]:
    def tell(line: str) -> None:
        if say is not None:
            say(line)

    ensure_home(settings)
    plan = plan_render(intent)
    os.environ.setdefault("FARM_MIDI__PREVIEW", "auto")  # a WAV too, where fluidsynth is installed
    embedded = EmbeddedRedis(settings, persistent=False) if settings.redis_url is None else None
    workers = []
    try:
        if embedded is not None and embedded.start():
            tell(f"started embedded Redis on {embedded.socket}")
        client = check_redis(settings)
        workers.append(start_worker(settings, ["llm", "midi"]))
        wait_for_workers(settings, client, {workers[0].pid})
        tell(f"worker {workers[0].pid} ready; rendering '{intent}' (seed {seed})")
        result = submit_render(settings, plan, seed, priority=5, project="demo")
        docs = wait_render(settings, result["jobs"], timeout_s)
    finally:
        stop_processes(workers)
        if embedded is not None:
            embedded.stop()
    return _summary(docs, tell)


def _summary(docs: dict[str, dict[str, Any]], tell: Callable[[str], None]) -> dict[str, Any]:
    doc = dict(docs["midi"])
    intent_file = next((a["path"] for a in docs["intent"]["artifacts"]
                        if a["name"] == "intent.json"), None)
    if intent_file is not None:
        intent = json.loads(Path(intent_file).read_text())
        doc.update(intent=intent["midi_params"], tier=intent["tier"])
        p = intent["midi_params"]
        tell(f"intent read by {intent['tier']}: {p['genre']}, {p['mood']}, {p['key']} {p['mode']}, "
             f"{p['tempo_bpm']:g} bpm, {p['time_signature']}, {p['bars']} bars")
        for warning in intent["warnings"]:
            tell(f"  note: {warning}")
    doc["intent_job_id"] = docs["intent"]["job_id"]
    for artifact in doc["artifacts"]:
        tell(f"  {artifact['path']}")
    error = f": {doc['error']}" if doc.get("error") else ""
    tell(f"job {doc['job_id']} {doc['state']}{error}; everything the demo started is stopped")
    return doc
