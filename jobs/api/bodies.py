"""What the API's requests carry and its answers hold, for FastAPI to read and for the OpenAPI
document (with examples). A job's own rules (its kind's params, the seed's range, a project's
name) stay where `farm submit` checks them (jobs.spec): a body here only has the shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jobs.config import PROJECT_PATTERN


class JobBody(BaseModel):
    """A job spec, as a job file or `farm submit` gives it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "midi", "params": {"bars": 8, "style": "triphop"}, "seed": 7, "project": "demo"},
        {"kind": "llm", "params": {"prompt": "A chord progression for a rainy night:",
                                   "max_tokens": 32}},
    ]})

    kind: str = Field(description="A job kind: midi, intent, llm, image, audio, probe.")
    params: dict[str, Any] = Field(default_factory=dict, description="The kind's params.")
    seed: int | None = Field(None, description="Random if not given.")
    priority: int | None = Field(None, description="0..9, 9 most urgent (default 5).")
    project: str | None = None
    depends_on: list[str] = Field(default_factory=list, description="Job ids it runs after.")
    idempotency_key: str | None = Field(None, description="Same key, same job.")


class RenderBody(BaseModel):
    """The studio graph, as `farm render` makes it: intent -> MIDI (-> image, texture)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"intent": "moody triphop at 90 bpm, and a cover image", "images": True,
         "audio_texture": False, "bars": 8, "seed": 7, "project": "demo"},
    ]})

    intent: str = Field(description="The request in words.")
    images: bool = Field(False, description="Also cover art (needs image.model_path).")
    audio_texture: bool = Field(False, description="Also an audio bed (needs audio.model_path).")
    bars: int | None = Field(None, ge=1, le=512)
    seed: int | None = None
    priority: int = Field(5, ge=0, le=9)
    project: str = Field("default", pattern=PROJECT_PATTERN)


class LlmBody(BaseModel):
    """An `llm` job whose text is streamed back as it is generated."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"prompt": "Three words for a drum groove:", "max_tokens": 24, "seed": 1},
    ]})

    prompt: str
    max_tokens: int = Field(256, ge=1)
    seed: int | None = None
    priority: int = Field(5, ge=0, le=9)
    project: str = Field("default", pattern=PROJECT_PATTERN)


class Submitted(BaseModel):
    """What `farm submit --json` prints."""

    job_id: str
    kind: str
    state: str
    created: bool = Field(description="False: the idempotency key named this job already.")
    seed: int


class Rendered(BaseModel):
    """What `farm render --json` prints, without waiting."""

    jobs: dict[str, str] = Field(description="Job id by node: intent, midi, image, audio.")
    seed: int | None
    skipped: list[str] = Field(description="Parts asked for in words this farm cannot make.")
    created: bool


class Artifact(BaseModel):
    id: str
    name: str
    sha256: str
    media_type: str
    bytes: int
    attempt: int
    path: str = Field(description="Where it is on the farm's machine.")
    blob: str
    url: str = Field(description="GET it here: /artifacts/<sha256>.")


class JobDoc(BaseModel):
    """What `farm status --json` prints, each artifact with its URL."""

    job_id: str
    kind: str
    state: str
    progress: float
    reason: str | None
    attempts: int
    worker: str | None
    worker_pid: int | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    priority: int
    project: str
    seed: int
    params: dict[str, Any]
    depends_on: list[str]
    artifacts: list[Artifact]
    error: str | None


class JobLine(BaseModel):
    """A row of `farm ls --json`."""

    job_id: str
    kind: str
    state: str
    progress: float
    attempts: int
    project: str
    seed: int
    created_at: str | None
    reason: str | None
    error: str | None


class Changed(BaseModel):
    """What `farm cancel --json` and `farm retry --json` print."""

    job_id: str
    state: str
    message: str
    cancelled: bool | None = None


class RenderLine(BaseModel):
    """A render of the history: its intent job and the jobs made from it, by kind."""

    intent_job: str
    text: str
    state: str = Field(description="The intent job's state.")
    project: str
    created_at: str | None
    jobs: dict[str, str]


class Health(BaseModel):
    ok: bool
    redis: str
    catalog: str
    workers: dict[str, int] = Field(description="Live workers by tag.")


class ModelLine(BaseModel):
    name: str
    kind: str | None
    sha256: str
    path: str
    vram_mb: int | None = Field(description="Peak measured on a GPU; null: never measured.")
    load_s: float | None
    updated_at: str


class Problem(BaseModel):
    """Every error: one line, as the CLI would print it."""

    detail: str
