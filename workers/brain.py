"""The `intent` and `llm` kinds: one llama.cpp model per worker process, loaded once, shared.

On the CPU the model stays loaded between jobs and is closed after `idle_unload_s` without
work. With GPU offload it lives under the device lease (Residency), which unloads it when
the lease passes to another model and after the same idle time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import redis

from jobs.config import FarmSettings
from jobs.holds import pause_seen, paused_at
from jobs.keys import FarmKeys
from workers.attempt import JobOutput, JobRun, json_bytes
from workers.errors import JobInputError
from workers.ticker import Duty, ticker

log = logging.getLogger(__name__)
TOKENS_KEPT = 20_000  # entries of a job's text stream (pieces, about tokens)
TOKENS_TTL_S = 3600
_lock = threading.RLock()  # one job at a time touches the process's model
_backend: Any = None  # pipelines.brain.LlamaBackend, made after the fork
_last_used = 0.0
_keeper: Duty | None = None
_keeper_pid = 0


def brain_config(settings: FarmSettings) -> dict[str, Any]:
    llm = settings.llm
    return {
        "model_path": str(llm.model_path.expanduser()) if llm.model_path else None,
        "n_ctx": llm.n_ctx, "n_threads": llm.n_threads or settings.threads,
        "n_gpu_layers": llm.n_gpu_layers, "seed": llm.seed,
        "endpoint_url": llm.endpoint_url, "endpoint_model": llm.endpoint_model,
    }


@cache
def model_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The GGUF's hash for lineage, computed once per file version in this process."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _process_backend(run: JobRun, config: dict[str, Any]) -> Any:
    """The process's LlamaBackend, loaded or not: the pipeline's own load() loads it, once.

    With GPU offload it is kept by the Residency, which closes it when the lease passes on;
    on the CPU it is a process global that a keeper thread closes after `idle_unload_s`.
    """
    global _backend
    from pipelines.brain import LlamaBackend

    if run.residency is not None:
        return run.residency.model_for(Path(config["model_path"]).name, LlamaBackend,
                                       lambda backend: backend.close())
    if _backend is None:
        _backend = LlamaBackend()
    _ensure_keeper(run.ctx.settings, run.ctx.redis)
    return _backend


def _model_file_sha256(model_path: str) -> str:
    path = Path(model_path).resolve()
    stat = path.stat()
    return model_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def _note_load(run: JobRun, config: dict[str, Any], seconds: float, loads: int) -> None:
    """Record a real load: the model registry (load time) and a line in the job's history."""
    path = Path(config["model_path"])
    run.ctx.catalog.record_model(path.name, str(path.resolve()),
                                 _model_file_sha256(config["model_path"]), None, seconds)
    run.note(f"loaded model {path.name} in {seconds:.2f} s (load {loads} in this process)")


def _ensure_keeper(settings: FarmSettings, client: Any) -> None:
    """A duty on the process's ticker that closes the CPU model once it has been idle for
    `idle_unload_s`, or at once when the user pauses the `llm` queue."""
    idle_unload_s = settings.idle_unload_s
    global _keeper, _keeper_pid, _last_used
    _last_used = time.monotonic()
    if _keeper is not None and _keeper_pid == os.getpid():
        return

    def unload_when_idle() -> None:
        # A job holds the lock while it generates: then the model is not idle, and the
        # ticker must not wait for it (the job's own heartbeat runs on the ticker).
        if not _lock.acquire(blocking=False):
            return
        try:
            if _backend is not None and _backend.loaded and (
                    time.monotonic() - _last_used > idle_unload_s
                    or paused_at(pause_seen(settings, client), "llm") is not None):
                _backend.close()
        finally:
            _lock.release()

    _keeper = ticker().every(min(1.0, max(0.5, idle_unload_s / 4)), unload_when_idle,
                             "idle unload of the language model")
    _keeper_pid = os.getpid()


def _run_pipeline(run: JobRun, config: dict[str, Any], pipeline_class: Any, request: Any) -> Any:
    """One request through a brain pipeline on the process's resident model."""
    from pipelines.brain import BrainError, LlamaBackend

    with _lock:
        pipeline = pipeline_class(backend=_process_backend(run, config))
        loads_before, started = LlamaBackend.loads, time.perf_counter()
        try:
            pipeline.load(config)  # a no-op while the same model is resident
            if LlamaBackend.loads > loads_before:
                _note_load(run, config, time.perf_counter() - started, LlamaBackend.loads)
            return pipeline(request)
        except BrainError as error:
            raise JobInputError(str(error)) from error
        finally:
            _mark_used()


def render_intent(run: JobRun) -> list[JobOutput]:
    from pipelines.brain import BrainPipeline, IntentRequest

    config = brain_config(run.ctx.settings)
    result = _run_pipeline(run, config, BrainPipeline,
                           IntentRequest(text=run.params["text"], seed=run.job.seed))
    for warning in result.warnings:
        run.note(f"brain: {warning}")
    run.note(f"intent by {result.tier}: {result.tokens} tokens in {result.seconds:.2f} s")
    if result.tier == "llama":
        run.sources.append((_model_file_sha256(config["model_path"]), "model"))
    doc = {
        "text": run.params["text"], "seed": run.job.seed, "tier": result.tier,
        "intent": result.intent.model_dump(mode="json"),
        "midi_params": result.intent.midi_params(), "facts": result.facts,
        "warnings": result.warnings,
    }
    return [JobOutput("intent.json", json_bytes(doc), "application/json")]


def render_completion(run: JobRun) -> list[JobOutput]:
    from pipelines.brain import CompletionPipeline, CompletionRequest

    config = brain_config(run.ctx.settings)
    result = _run_pipeline(run, config, CompletionPipeline, CompletionRequest(
        run.params["prompt"], run.params["max_tokens"], run.job.seed, _token_sink(run)))
    rate = result.tokens / result.seconds if result.seconds else 0.0
    run.note(f"completion by {result.tier}: {result.tokens} tokens in {result.seconds:.2f} s "
             f"({rate:.1f} tokens/s)")
    if result.tier == "llama":
        run.sources.append((_model_file_sha256(config["model_path"]), "model"))
    return [JobOutput("completion.txt", result.text.encode(), "text/plain")]


def _token_sink(run: JobRun) -> Callable[[str], None]:
    """Where the text goes as it is generated: the job's Redis stream, which the API relays
    (`POST /llm/stream`). Each entry is a piece of text and its attempt; the stream lives an
    hour. Redis going away stops the stream, never the job: the catalogued text is the truth."""
    key = FarmKeys(run.ctx.settings.namespace).llm_tokens(run.job.id)
    client, broken = run.ctx.redis, [False]

    def tell(text: str) -> None:
        if broken[0]:
            return
        try:
            pipe = client.pipeline(transaction=False)
            pipe.xadd(key, {"text": text, "attempt": run.attempt}, maxlen=TOKENS_KEPT,
                      approximate=True)
            pipe.expire(key, TOKENS_TTL_S)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            broken[0] = True
            log.warning("job %s: its text is not streamed (%s)", run.job.id[:12], exc)
    return tell


def _mark_used() -> None:
    global _last_used
    _last_used = time.monotonic()
