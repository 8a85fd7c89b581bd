"""The `image` and `audio` kinds: a diffusers pipeline resident under the device's lease.

The lease is taken before the model loads (workers.runner); the Residency keeps the pipeline
between jobs of the same model and unloads it, giving its memory back, before the device passes
to another model. The first job after a load records the model in the registry: its weights'
hash (cached by file), the load time and, on a GPU, the peak VRAM that the lease then uses.
Step progress reaches the catalog; a cancel or a lost lease stops the steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from jobs.config import DiffusionConfig
from jobs.errors import BadJobSpec
from jobs.kinds import diffusion_model
from pipelines.model_folder import ModelFolder
from storage.weights import weights_sha256
from workers.attempt import JobOutput, JobRun, json_bytes
from workers.errors import JobCancelled, JobInputError
from workers.inputs import intent_input

log = logging.getLogger(__name__)
_PROGRESS_EVERY_S = 1.0
_DEFAULT_SECONDS = 10.0


class Resident:
    """A loaded pipeline and what the registry needs to know of it."""

    def __init__(self, pipeline: Any, model: ModelFolder, sha256: str, load_s: float,
                 loads: int) -> None:
        self.pipeline, self.model, self.sha256 = pipeline, model, sha256
        self.load_s, self.loads, self.recorded = load_s, loads, False


_loads = 0  # pipelines this process loaded


def render_image(run: JobRun) -> list[JobOutput]:
    from pipelines.image import BadImageRequest, ImagePipeline, ImageRequest

    params, conf = run.params, run.ctx.settings.image
    prompt, source = _prompt(run, "image_prompt", intent_input(run))
    request = ImageRequest(prompt=prompt, negative_prompt=params["negative_prompt"],
                           steps=params["steps"], guidance=params["guidance"],
                           width=params["width"], height=params["height"],
                           scheduler=params["scheduler"], images=params["images"],
                           seed=run.job.seed)
    _checked(request.check, BadImageRequest)

    def load(pipeline: Any, model: ModelFolder, sha256: str) -> None:
        pipeline.load(model, _options(run, conf), sha256, conf.safety_checker)

    resident = _resident(run, "image", ImagePipeline, load)
    result = _run(run, resident, lambda on_step: resident.pipeline(request, on_step),
                  BadImageRequest)
    outputs = [JobOutput(f"image-{n}.png", image.png, "image/png")
               for n, image in enumerate(result.images)]
    doc = {**_about(resident, result.device, source),
           "images": [{"name": f"image-{n}.png", "seed": image.seed,
                       "parameters": image.parameters} for n, image in enumerate(result.images)]}
    run.note(f"{len(outputs)} image(s) {request.width}x{request.height} in "
             f"{result.seconds:.2f} s on {result.device}")
    return [*outputs, JobOutput("image.json", json_bytes(doc), "application/json")]


def render_audio(run: JobRun) -> list[JobOutput]:
    from pipelines.audio import AudioPipeline, AudioRequest, BadAudioRequest

    params, conf = run.params, run.ctx.settings.audio
    intent = intent_input(run)  # read once: the prompt and the bar length both come from it
    prompt, source = _prompt(run, "audio_texture_prompt", intent)

    def load(pipeline: Any, model: ModelFolder, sha256: str) -> None:
        pipeline.load(model, _options(run, conf))

    resident = _resident(run, "audio", AudioPipeline, load)
    seconds = _texture_seconds(run, resident.pipeline.max_seconds, intent)
    request = AudioRequest(prompt=prompt, negative_prompt=params["negative_prompt"],
                           seconds=seconds, steps=params["steps"], guidance=params["guidance"],
                           loop=params["loop"], crossfade_s=params["crossfade_s"],
                           bit_depth=params["bit_depth"], seed=run.job.seed)
    _checked(request.check, BadAudioRequest)
    result = _run(run, resident, lambda on_step: resident.pipeline(request, on_step),
                  BadAudioRequest)
    report = {**_about(resident, result.device, source), **result.report,
              "params": {**params, "prompt": prompt, "seconds": seconds, "seed": run.job.seed}}
    run.note(f"{result.report['seconds']:g} s texture at {result.sample_rate} Hz in "
             f"{result.seconds:.2f} s on {result.device}, {report['lufs_integrated']} LUFS, "
             f"seam ratio {result.report['seam']['ratio']}")
    return [JobOutput("texture.wav", result.wav, "audio/wav"),
            JobOutput("audio.report.json", json_bytes(report), "application/json")]


# the resident pipeline --------------------------------------------------------------------

def _resident(run: JobRun, kind: str, make: Callable[[], Any],
              load_into: Callable[[Any, ModelFolder, str], None]) -> Resident:
    """The process's pipeline for this kind's model, loaded under the lease if it is not."""
    try:
        model = diffusion_model(kind, run.ctx.settings)
    except BadJobSpec as exc:
        raise JobInputError(str(exc)) from None
    if run.residency is None:
        raise JobInputError(f"the {kind} kind runs under the device lease only")

    def load() -> Resident:
        global _loads
        from pipelines.diffusion import (
            DeviceOutOfMemory,
            ModelLoadFailed,
            pick_device,
            reset_peak_memory,
        )

        started = time.perf_counter()
        sha256 = weights_sha256(model.path, model.weights, run.ctx.settings.weights_hash_cache)
        pipeline = make()
        try:
            # The peak from here on is this model's: load and its first job.
            reset_peak_memory(pick_device(getattr(run.ctx.settings, kind).device))
            load_into(pipeline, model, sha256)
        except (ModelLoadFailed, DeviceOutOfMemory) as exc:
            raise JobInputError(str(exc)) from exc
        _loads += 1
        seconds = time.perf_counter() - started
        run.note(f"loaded model {model.name} ({model.pipeline}) in {seconds:.2f} s on "
                 f"{pipeline.device} (load {_loads} in this process)")
        return Resident(pipeline, model, sha256, seconds, _loads)

    resident: Resident = run.residency.model_for(run.model or model.name, load, _unload)
    run.sources.append((resident.sha256, "model"))
    return resident


def _unload(resident: Resident) -> None:
    """Drop the pipeline and say what the device still holds (checked on a GPU)."""
    from pipelines.diffusion import memory_mb

    device = resident.pipeline.device
    resident.pipeline.unload()
    left = memory_mb(device)
    log.info("unloaded %s from %s%s", resident.model.name, device,
             f": {left} MB of VRAM still allocated by torch" if left is not None else "")


def _run(run: JobRun, resident: Resident, call: Callable[[Callable[[int, int], None]], Any],
         bad_request: type[Exception]) -> Any:
    """One request on the resident pipeline, with its steps reported; the first after a load
    records the model's cost in the registry."""
    from pipelines.diffusion import DeviceOutOfMemory, forget_frames, peak_memory_mb

    try:
        result = call(_progress(run))
    except bad_request as exc:
        raise JobInputError(str(exc)) from exc
    except DeviceOutOfMemory as exc:
        message = str(exc)
        forget_frames(exc)  # so that unloading gives the memory back now
        assert run.residency is not None
        run.residency.drop_model()
        raise JobInputError(message) from None
    if not resident.recorded:
        peak = peak_memory_mb(result.device)
        model = resident.model
        run.ctx.catalog.record_model(model.name, str(model.path), resident.sha256, peak,
                                     round(resident.load_s, 3), run.kind.name)
        resident.recorded = True
        if peak is not None:
            run.note(f"{model.name}: peak {peak} MB of VRAM on {result.device}")
    return result


def _progress(run: JobRun) -> Callable[[int, int], None]:
    """The pipeline's step callback: progress to the catalog (at most once a second, and the
    last step), and a stop when the job is cancelled or its lease is lost."""
    last = [0.0]

    def on_step(done: int, total: int) -> None:
        if run.cancelled.is_set():
            raise JobCancelled(f"job {run.job.id[:12]} cancelled at step {done} of {total}")
        if run.residency is not None:
            run.residency.check()
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S or done >= total:
            last[0] = now
            run.running(f"step {done} of {total}", min(1.0, done / max(1, total)))
    return on_step


# what a job asks ----------------------------------------------------------------------------

def _prompt(run: JobRun, intent_field: str, found: tuple[str, dict[str, Any]] | None
            ) -> tuple[str, str]:
    """The job's own prompt, else the one its intent input wrote for it; and which it was."""
    if run.params["prompt"].strip():
        return run.params["prompt"], "params"
    if found:
        artifact_id, doc = found
        run.sources.append((artifact_id, "intent"))
        prompt = str(doc.get("intent", {}).get(intent_field, "")).strip()
        if prompt:
            return prompt, "intent"
    raise JobInputError(f"params.prompt: the job has no prompt and no intent with an "
                        f"{intent_field}")


def _texture_seconds(run: JobRun, model_max: float,
                     intent: tuple[str, dict[str, Any]] | None) -> float:
    """The job's own length; else whole bars of its intent's tempo near ten seconds, within
    what the model makes in one go (less the loop's crossfade)."""
    params = run.params
    if "seconds" in run.given:
        return float(params["seconds"])
    room = model_max - (params["crossfade_s"] if params["loop"] else 0.0)
    bar_s = _bar_seconds(intent)
    if bar_s is not None and bar_s <= room:
        bars = max(1, min(round(_DEFAULT_SECONDS / bar_s), int(room // bar_s)))
        seconds = round(bars * bar_s, 4)
    else:
        seconds = min(_DEFAULT_SECONDS, max(0.5, room))
    if seconds < _DEFAULT_SECONDS:
        run.note(f"texture length {seconds:g} s (the model makes at most {model_max:.2f} s)")
    return seconds


def _bar_seconds(found: tuple[str, dict[str, Any]] | None) -> float | None:
    """One bar of the intent's tempo and metre, in seconds (None without an intent)."""
    music = found[1].get("midi_params", {}) if found else {}
    beats, _, unit = str(music.get("time_signature", "4/4")).partition("/")
    tempo = float(music.get("tempo_bpm", 0) or 0)
    if tempo > 0 and beats.isdigit() and unit.isdigit() and int(unit) > 0:
        return int(beats) * 4 / int(unit) * 60 / tempo
    return None


def _options(run: JobRun, conf: DiffusionConfig) -> Any:
    from pipelines.diffusion import RunOptions

    return RunOptions(device=conf.device, dtype=conf.dtype,
                      attention_slicing=conf.attention_slicing, vae_slicing=conf.vae_slicing,
                      vae_tiling=conf.vae_tiling, cpu_offload=conf.cpu_offload,
                      threads=run.ctx.settings.threads, section=run.kind.name)


def _checked(check: Callable[[], None], bad_request: type[Exception]) -> None:
    try:
        check()
    except bad_request as exc:
        raise JobInputError(str(exc)) from exc


def _about(resident: Resident, device: str, prompt_from: str) -> dict[str, Any]:
    from pipelines.tiny import is_tiny

    model = resident.model
    about: dict[str, Any] = {
        "model": {"name": model.name, "pipeline": model.pipeline, "path": str(model.path),
                  "sha256": resident.sha256},
        "device": device, "prompt_from": prompt_from,
    }
    if is_tiny(model.path if model.path.is_dir() else model.path.parent):
        about["noise"] = "a tiny random-weight pipeline (farm models tiny): this output is noise"
    return about
