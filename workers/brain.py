"""The `intent` and `llm` kinds: one llama.cpp model per worker process, loaded once, shared.

On the CPU the model stays loaded between jobs and is closed after `idle_unload_s` without
work. With GPU offload it lives under the device lease (Residency), which unloads it when
the lease passes to another model and after the same idle time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from jobs.config import FarmSettings
from workers.runner import JobInputError, JobOutput, JobRun, KindRunner

_lock = threading.RLock()  # one job at a time touches the process's model
_backend: Any = None  # pipelines.brain.LlamaBackend, made after the fork
_last_used = 0.0
_keeper: threading.Thread | None = None


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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _loaded_backend(run: JobRun, config: dict[str, Any]) -> Any:
    """The process's backend with the configured model loaded (or its load error recorded)."""
    global _backend
    from pipelines.brain import BrainError, LlamaBackend

    if run.residency is not None:  # GPU offload: the model only lives under the lease
        def load() -> Any:
            backend = LlamaBackend()
            _load_and_note(run, backend, config)
            return backend

        name = Path(config["model_path"]).name
        try:
            return run.residency.model_for(name, load, lambda backend: backend.close())
        except BrainError as error:
            run.note(f"model not loaded: {error}")
            return LlamaBackend()
    if _backend is None:
        _backend = LlamaBackend()
    try:
        _load_and_note(run, _backend, config)
    except BrainError as error:
        run.note(f"model not loaded: {error}")
    _ensure_keeper(run.ctx.settings.idle_unload_s)
    return _backend


def _load_and_note(run: JobRun, backend: Any, config: dict[str, Any]) -> None:
    if config["model_path"] is None:
        return
    loads_before = type(backend).loads
    started = time.perf_counter()
    backend.load(config["model_path"], config["n_ctx"], config["n_threads"],
                 config["n_gpu_layers"], config["seed"])
    if type(backend).loads == loads_before:
        return  # already resident
    seconds = time.perf_counter() - started
    path = Path(config["model_path"])
    stat = path.stat()
    sha = model_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    run.ctx.catalog.record_model(path.name, str(path.resolve()), sha, None, seconds)
    run.note(f"loaded model {path.name} in {seconds:.2f} s (load {type(backend).loads} "
             f"in this process)")


def _model_source(config: dict[str, Any]) -> list[tuple[str, str]]:
    if config["model_path"] is None or not Path(config["model_path"]).is_file():
        return []
    path = Path(config["model_path"])
    stat = path.stat()
    return [(model_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns), "model")]


def _ensure_keeper(idle_unload_s: float) -> None:
    """A thread that closes the CPU model after it has been idle for `idle_unload_s`."""
    global _keeper, _last_used
    _last_used = time.monotonic()
    if _keeper is not None and _keeper.is_alive():
        return

    def keep() -> None:
        while True:
            time.sleep(min(5.0, max(0.5, idle_unload_s / 4)))
            with _lock:
                if _backend is not None and _backend.loaded and \
                        time.monotonic() - _last_used > idle_unload_s:
                    _backend.close()

    _keeper = threading.Thread(target=keep, name="llm-idle-unload", daemon=True)
    _keeper.start()


def _run_pipeline(run: JobRun, config: dict[str, Any], pipeline_class: Any, request: Any) -> Any:
    """One request through a brain pipeline on the process's resident model."""
    from pipelines.brain import BrainError

    with _lock:
        pipeline = pipeline_class(backend=_loaded_backend(run, config))
        try:
            pipeline.load(config)
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
        run.sources.extend(_model_source(config))
    doc = {
        "text": run.params["text"], "seed": run.job.seed, "tier": result.tier,
        "intent": result.intent.model_dump(mode="json"),
        "midi_params": result.intent.midi_params(), "facts": result.facts,
        "warnings": result.warnings,
    }
    return [JobOutput("intent.json", _json_bytes(doc), "application/json")]


def render_completion(run: JobRun) -> list[JobOutput]:
    from pipelines.brain import CompletionPipeline, CompletionRequest

    config = brain_config(run.ctx.settings)
    result = _run_pipeline(run, config, CompletionPipeline, CompletionRequest(
        run.params["prompt"], run.params["max_tokens"], run.job.seed))
    rate = result.tokens / result.seconds if result.seconds else 0.0
    run.note(f"completion by {result.tier}: {result.tokens} tokens in {result.seconds:.2f} s "
             f"({rate:.1f} tokens/s)")
    if result.tier == "llama":
        run.sources.extend(_model_source(config))
    return [JobOutput("completion.txt", result.text.encode(), "text/plain")]


def _mark_used() -> None:
    global _last_used
    _last_used = time.monotonic()


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=1) + "\n").encode()


def _vram_estimate_mb(settings: FarmSettings) -> int:
    """The GGUF's size plus room for the context: a declaration, until a GPU measures it."""
    path = settings.llm.model_path
    size_mb = path.expanduser().stat().st_size // 2**20 if path and path.expanduser().is_file() else 0
    return int(size_mb + settings.llm.n_ctx // 4 + 256)


def _model_name(settings: FarmSettings) -> str | None:
    return settings.llm.model_path.name if settings.llm.model_path else None


def _runner(run: Any) -> KindRunner:
    from workers.context import process_context

    def settings() -> FarmSettings:
        return process_context().settings

    return KindRunner(run=run, model_of=lambda params: _model_name(settings()),
                      vram_mb_of=lambda params: _vram_estimate_mb(settings()))


INTENT = _runner(render_intent)
LLM = _runner(render_completion)
