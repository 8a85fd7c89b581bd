"""The registry of job kinds: each kind's queue tag, resource needs, parameters and outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jobs.config import FarmSettings
from jobs.errors import BadJobSpec

# These lists mirror pipelines.midi (jobs may not import pipelines); a test keeps them equal.
GENRES = ("triphop", "lofi", "house", "ballad", "jazz", "folk", "rock", "ambient", "pop")
MOODS = (
    "moody", "sad", "happy", "dark", "dreamy", "energetic", "calm", "tense", "fragile",
    "uplifting",
)
KEYS = (
    "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb",
    "B", "Cb",
)
MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "aeolian", "locrian")
ROLES = ("melody", "chords", "bass", "drums")
TIME_SIGNATURES = ("2/4", "3/4", "4/4", "5/4", "6/8", "7/8", "9/8", "12/8")

Role = Literal["melody", "chords", "bass", "drums"]


def _all_roles() -> list[Role]:
    return ["melody", "chords", "bass", "drums"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} '{value}'; choose one of {', '.join(allowed)}")
    return value


class MidiParams(_Params):
    genre: str = "triphop"
    mood: str = "moody"
    key: str = "D"
    mode: str = "minor"
    tempo_bpm: float = Field(90.0, ge=20, le=300)
    time_signature: str = "4/4"
    bars: int = Field(16, ge=1, le=512)
    energy: float = Field(0.5, ge=0, le=1)
    energy_curve: list[float] = Field(default_factory=list, max_length=512)
    instrumentation: list[Role] = Field(default_factory=lambda: _all_roles(), min_length=1)
    swing: float | None = Field(None, ge=0, le=0.5)
    humanize_ms: float = Field(8.0, ge=0, le=40)

    @field_validator("genre")
    @classmethod
    def _genre(cls, v: str) -> str:
        return _choice(v, GENRES, "genre")

    @field_validator("mood")
    @classmethod
    def _mood(cls, v: str) -> str:
        return _choice(v, MOODS, "mood")

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _choice(v, KEYS, "key")

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        return _choice(v, MODES, "mode")

    @field_validator("time_signature")
    @classmethod
    def _time_signature(cls, v: str) -> str:
        return _choice(v, TIME_SIGNATURES, "time_signature")

    @field_validator("energy_curve")
    @classmethod
    def _curve(cls, v: list[float]) -> list[float]:
        if any(not 0 <= x <= 1 for x in v):
            raise ValueError("every energy_curve value must be between 0 and 1")
        return v


TAGS = ("llm", "midi", "image", "audio")


class ProbeParams(_Params):
    """A diagnostic heavy job: declares a model and VRAM, "loads" and "runs" for set times."""

    tag: str = "image"
    model: str = Field("probe-model", min_length=1, max_length=128)
    # 0: the probe needs no GPU and skips the lease (measures the farm's own dispatch cost).
    vram_mb: int = Field(1024, ge=0, le=1_000_000)
    load_s: float = Field(0.0, ge=0, le=3600)
    run_s: float = Field(0.1, ge=0, le=86400)
    fail: bool = False

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        return _choice(v, TAGS, "tag")


class IntentParams(_Params):
    """Free text from the musician; the brain turns it into structured music."""

    text: str = Field("moody triphop at 90 bpm", min_length=1, max_length=4000)


class LlmParams(_Params):
    """A plain completion from the farm's local language model."""

    prompt: str = Field("Describe a moody triphop track in one sentence.", min_length=1,
                        max_length=20000)
    max_tokens: int = Field(128, ge=1, le=4096)


GpuNeed = Literal["never", "always", "offload"]


@dataclass(frozen=True)
class KindInfo:
    name: str
    tag: str
    gpu: GpuNeed  # "offload": only when the model is configured to use a GPU
    params: type[_Params]
    outputs: tuple[str, ...]
    description: str


KINDS: dict[str, KindInfo] = {
    "midi": KindInfo(
        name="midi",
        tag="midi",
        gpu="never",
        params=MidiParams,
        outputs=("music.mid", "music.music.json", "report.json"),
        description="seeded multi-track MIDI: melody, chords, bass, drums",
    ),
    "probe": KindInfo(
        name="probe",
        tag="image",
        gpu="always",
        params=ProbeParams,
        outputs=("probe.json",),
        description="diagnostic heavy job: takes the GPU lease, loads and runs for set times",
    ),
    "intent": KindInfo(
        name="intent",
        tag="llm",
        gpu="offload",
        params=IntentParams,
        outputs=("intent.json",),
        description="the brain: intent text to structured music (local LLM, rules fallback)",
    ),
    "llm": KindInfo(
        name="llm",
        tag="llm",
        gpu="offload",
        params=LlmParams,
        outputs=("completion.txt",),
        description="a completion from the local language model",
    ),
}


def kind_info(kind: str) -> KindInfo:
    try:
        return KINDS[kind]
    except KeyError:
        raise BadJobSpec(
            f"unknown job kind '{kind}'; known kinds: {', '.join(sorted(KINDS))}"
        ) from None


def model_of(kind: str, params: dict[str, Any], settings: FarmSettings) -> str | None:
    """The model a job loads, so the scheduler can keep it resident between jobs."""
    if kind == "probe":
        return str(params.get("model"))
    if kind_info(kind).tag == "llm" and settings.llm.model_path is not None:
        return settings.llm.model_path.name
    return None


def needs_gpu(kind: str, params: dict[str, Any], settings: FarmSettings) -> bool:
    """Whether a job takes its device's GPU lease before it runs."""
    need = kind_info(kind).gpu
    if kind == "probe":
        return int(params.get("vram_mb", 1)) > 0
    if need == "offload":
        return settings.llm.model_path is not None and settings.llm.n_gpu_layers != 0
    return need == "always"


def queue_for(kind: str, params: dict[str, Any]) -> str:
    """The queue a job goes to: its kind's tag, or for `probe` the tag it names."""
    if kind == "probe":
        return str(params.get("tag", kind_info(kind).tag))
    return kind_info(kind).tag
