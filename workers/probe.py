"""The `probe` kind: a heavy job without weights, for testing and measuring the scheduler.

It declares a model and its VRAM, "loads" for `load_s` (skipped when that model is already
resident in this process) and "runs" for `run_s`, all under the GPU lease like any heavy job.
With `vram_mb` 0 it takes no lease at all, which measures the farm's own dispatch overhead.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from workers.attempt import JobOutput, JobRun
from workers.errors import AttemptFailed, JobCancelled


class ProbeModel:
    def __init__(self, name: str, vram_mb: int, load_s: float) -> None:
        self.name, self.vram_mb, self.load_s = name, vram_mb, load_s


def run_probe(run: JobRun) -> list[JobOutput]:
    params, residency = run.params, run.residency
    loads_before = _loads
    load_started = time.time()

    def load() -> ProbeModel:
        global _loads
        _loads += 1
        if run.cancelled.wait(params["load_s"]):
            raise JobCancelled("cancelled while loading")
        name = params["model"]
        if residency is not None:  # the registry is of GPU models: load cost and VRAM
            run.ctx.catalog.record_model(name, f"probe:{name}",
                                         hashlib.sha256(name.encode()).hexdigest(),
                                         params["vram_mb"], time.time() - load_started)
        return ProbeModel(name, params["vram_mb"], params["load_s"])

    if residency is not None:
        residency.model_for(params["model"], load, lambda model: None)
    else:  # vram_mb 0: no GPU, no lease, nothing kept resident
        load()
    run_started = time.time()
    if run.attempt <= params["hang_attempts"]:
        time.sleep(params["hang_s"])  # deaf to cancels: a handler stuck in native code
    if run.cancelled.wait(params["run_s"]):
        raise JobCancelled("cancelled while running")
    if params["fail"] or run.attempt <= params["fail_attempts"]:
        raise AttemptFailed(f"probe asked to fail (model {params['model']})")
    report: dict[str, Any] = {
        "job_id": run.job.id, "attempt": run.attempt, "pid": os.getpid(),
        "device": run.lease.device if run.lease else None,
        "token": run.lease.token if run.lease else None, "model": params["model"],
        "loaded": _loads > loads_before, "load_started": load_started,
        "run_started": run_started, "run_finished": time.time(), "vram_mb": params["vram_mb"],
    }
    return [JobOutput("probe.json", json.dumps(report, sort_keys=True).encode(),
                      "application/json")]


_loads = 0
