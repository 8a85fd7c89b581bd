"""The registry of job kinds: one declaration per kind says everything the farm needs of it.

A kind's queue tag, whether it takes the GPU lease, its params model, its outputs, the model
it loads and its VRAM, and the name of its handler. `jobs` never imports `workers`: the
registry names each handler as "module:function", and `workers.tasks` binds one Celery task
per kind from it. Adding a kind is one `register(Kind(...))`, its pipeline and its handler.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jobs.config import TAGS, DiffusionConfig, FarmSettings
from jobs.errors import BadJobSpec, shown
from pipelines.diffusion_params import AudioParams, ImageParams
from pipelines.model_folder import BadModelFolder, ModelFolder, inspect_model
from pipelines.vocabulary import MusicParams

Params = dict[str, Any]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProbeParams(_Params):
    """A diagnostic heavy job: declares a model and VRAM, "loads" and "runs" for set times."""

    tag: str = "image"
    # A name (the lease and the registry key on it), never a path: nothing is loaded.
    model: str = Field("probe-model", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
    # 0: the probe needs no GPU and skips the lease (measures the farm's own dispatch cost).
    vram_mb: int = Field(1024, ge=0, le=1_000_000)
    load_s: float = Field(0.0, ge=0, le=3600)
    run_s: float = Field(0.1, ge=0, le=86400)
    fail: bool = False  # every attempt fails
    fail_attempts: int = Field(0, ge=0, le=100)  # the first attempts fail, later ones succeed
    hang_attempts: int = Field(0, ge=0, le=100)  # the first attempts first hang, deaf to
    hang_s: float = Field(0.0, ge=0, le=3600)  # cancels, for this long

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str) -> str:
        if tag not in TAGS:
            raise ValueError(f"unknown tag {shown(tag, 40)}; choose one of {', '.join(TAGS)}")
        return tag


class IntentParams(_Params):
    """Free text from the musician; the brain turns it into structured music."""

    text: str = Field("moody triphop at 90 bpm", min_length=1, max_length=4000)


class LlmParams(_Params):
    """A plain completion from the farm's local language model."""

    prompt: str = Field("Describe a moody triphop track in one sentence.", min_length=1,
                        max_length=20000)
    max_tokens: int = Field(128, ge=1, le=4096)


def never(params: Params, settings: FarmSettings) -> bool:
    return False


def no_model(params: Params, settings: FarmSettings) -> str | None:
    return None


def no_vram(params: Params, settings: FarmSettings) -> int:
    return 0


@dataclass(frozen=True)
class Kind:
    name: str
    tag: str  # the queue its jobs go to (unless `queue` says otherwise per job)
    params: type[BaseModel]
    outputs: tuple[str, ...]
    handler: str  # "module:function" that runs a job of this kind, bound by workers.tasks
    description: str
    gpu: Callable[[Params, FarmSettings], bool] = never  # takes the device's GPU lease
    model: Callable[[Params, FarmSettings], str | None] = no_model  # what stays resident
    vram_mb: Callable[[Params, FarmSettings], int] = no_vram
    queue: Callable[[Params], str] | None = None
    # Refuses a job at submit (BadJobSpec), before anything is catalogued: (params, settings,
    # the params the submitter named, whether the job has inputs).
    check: Callable[[Params, FarmSettings, list[str], bool], None] | None = None
    measures_vram: bool = False  # its handler records the model's peak VRAM in the registry

    def queue_for(self, params: Params) -> str:
        return self.queue(params) if self.queue is not None else self.tag

    def vram_needed(self, params: Params, settings: FarmSettings, measured: int | None) -> int:
        """What the lease must find free: the model's measured peak once a GPU measured it,
        the kind's declaration until then."""
        return measured if measured and self.measures_vram else self.vram_mb(params, settings)


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    if kind.tag not in TAGS:
        raise ValueError(f"kind {kind.name}: tag {kind.tag!r} is not one of {TAGS}")
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"kind {kind.name} is registered already")
    if ":" not in kind.handler:
        raise ValueError(f"kind {kind.name}: handler {kind.handler!r} must be 'module:function'")
    KINDS[kind.name] = kind
    return kind


def kind_info(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise BadJobSpec(
            f"unknown job kind {shown(name, 40)}; known kinds: {', '.join(sorted(KINDS))}"
        ) from None


def heavy_job(job: Any, settings: FarmSettings) -> bool:
    """Whether a catalogued job takes a GPU lease (a kind no longer registered: no)."""
    kind = KINDS.get(job.kind)
    return kind is not None and kind.gpu(json.loads(job.params_json)["params"], settings)


def check_policies(settings: FarmSettings) -> None:
    """Failure policies name kinds the farm has (or `default`); said at start, not at a failure."""
    from jobs.errors import ConfigError

    for name in settings.policies:
        if name != "default" and name not in KINDS:
            raise ConfigError(f"bad setting policies.{name}: no such kind; known: "
                              f"default, {', '.join(sorted(KINDS))}")


# the brain's model -------------------------------------------------------------------------

def llm_offloaded(params: Params, settings: FarmSettings) -> bool:
    """The brain takes the GPU lease only when its model is configured to use a GPU."""
    return settings.llm.model_path is not None and settings.llm.n_gpu_layers != 0


def llm_model(params: Params, settings: FarmSettings) -> str | None:
    return settings.llm.model_path.name if settings.llm.model_path is not None else None


def llm_vram_mb(params: Params, settings: FarmSettings) -> int:
    """The GGUF's size plus room for the context: a declaration, until a GPU measures it."""
    path = settings.llm.model_path
    size_mb = path.expanduser().stat().st_size // 2**20 if path and path.expanduser().is_file() else 0
    return int(size_mb + settings.llm.n_ctx // 4 + 256)


register(Kind(
    name="midi", tag="midi", params=MusicParams,
    outputs=("music.mid", "music.music.json", "pianoroll.png", "report.json"),
    handler="workers.midi:render_midi",
    description="seeded multi-track MIDI: melody, chords, bass, drums",
))
register(Kind(
    name="probe", tag="image", params=ProbeParams, outputs=("probe.json",),
    handler="workers.probe:run_probe",
    description="diagnostic heavy job: takes the GPU lease, loads and runs for set times",
    gpu=lambda params, settings: int(params["vram_mb"]) > 0,
    model=lambda params, settings: str(params["model"]),
    vram_mb=lambda params, settings: int(params["vram_mb"]),
    queue=lambda params: str(params["tag"]),
))
register(Kind(
    name="intent", tag="llm", params=IntentParams, outputs=("intent.json",),
    handler="workers.brain:render_intent",
    description="the brain: intent text to structured music (local LLM, rules fallback)",
    gpu=llm_offloaded, model=llm_model, vram_mb=llm_vram_mb,
))
register(Kind(
    name="llm", tag="llm", params=LlmParams, outputs=("completion.txt",),
    handler="workers.brain:render_completion",
    description="a completion from the local language model",
    gpu=llm_offloaded, model=llm_model, vram_mb=llm_vram_mb,
))


# diffusion models: cover art and audio textures ------------------------------------------

def diffusion_model(kind: str, settings: FarmSettings) -> ModelFolder:
    """The kind's configured model, checked from its files (BadJobSpec when it cannot load)."""
    conf: DiffusionConfig = getattr(settings, kind)
    try:
        return inspect_model(conf.model_path, kind, conf.config_path)
    except BadModelFolder as exc:
        raise BadJobSpec(str(exc)) from None


def _diffusion_name(kind: str) -> Callable[[Params, FarmSettings], str | None]:
    def name(params: Params, settings: FarmSettings) -> str | None:
        path = getattr(settings, kind).model_path
        if path is None:
            return None
        path = path.expanduser()
        return path.stem if path.suffix.lower() == ".safetensors" else path.name
    return name


def _check_prompted(kind: str) -> Callable[[Params, FarmSettings, list[str], bool], None]:
    def check(params: Params, settings: FarmSettings, given: list[str], has_inputs: bool) -> None:
        model = diffusion_model(kind, settings)
        if not params.get("prompt", "").strip() and not has_inputs:
            raise BadJobSpec(f"params.prompt: give the {kind} a prompt (or let farm render "
                             "take it from the intent)")
        most = model.max_audio_seconds()
        if "seconds" in given and most is not None:
            wanted = params["seconds"] + (params["crossfade_s"] if params["loop"] else 0.0)
            if wanted > most:
                loop = " with the loop's crossfade" if params["loop"] else ""
                raise BadJobSpec(f"params.seconds: {model.name} makes at most {most:.2f} s in one "
                                 f"go; {params['seconds']:g} s{loop} is {wanted:g} s")
    return check


def image_vram_mb(params: Params, settings: FarmSettings) -> int:
    """Weights as stored plus activations that grow with the pixels drawn at once
    (about 1.5 GB for one 512x512 image): a declaration, until a GPU measures it."""
    pixels = int(params["width"]) * int(params["height"]) * int(params["images"])
    return _weights_mb("image", settings) + 512 + 1536 * pixels // (512 * 512)


def audio_vram_mb(params: Params, settings: FarmSettings) -> int:
    return _weights_mb("audio", settings) + 2048


def _weights_mb(kind: str, settings: FarmSettings) -> int:
    try:
        return diffusion_model(kind, settings).weights_bytes // 2**20
    except (BadJobSpec, OSError):
        return 0


register(Kind(
    name="image", tag="image", params=ImageParams, outputs=("image-<n>.png", "image.json"),
    handler="workers.diffusion:render_image",
    description="cover art: text to PNG through a local Stable Diffusion 1.5-class model",
    gpu=lambda params, settings: True, model=_diffusion_name("image"), vram_mb=image_vram_mb,
    check=_check_prompted("image"), measures_vram=True,
))
register(Kind(
    name="audio", tag="audio", params=AudioParams, outputs=("texture.wav", "audio.report.json"),
    handler="workers.diffusion:render_audio",
    description="an audio texture (drone, ambient bed): text to a loopable WAV",
    gpu=lambda params, settings: True, model=_diffusion_name("audio"), vram_mb=audio_vram_mb,
    check=_check_prompted("audio"), measures_vram=True,
))
