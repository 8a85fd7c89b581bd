"""The params of the `image` and `audio` kinds: one definition for the job's check at submit and
the pipelines' own check before any weights load. A leaf: stdlib and pydantic only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Scheduler names the farm takes, and how other Stable Diffusion tools write them.
SCHEDULERS = {
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_karras": "DPM++ 2M Karras",
    "euler_a": "Euler a",
    "euler": "Euler",
    "ddim": "DDIM",
}
MAX_SIDE = 2048
MAX_PROMPT = 2000


def scheduler_key(name: str) -> str:
    """"DPM++ 2M", "dpmpp-2m" and "dpmpp_2m" all name one scheduler."""
    key = name.strip().lower().replace("++", "pp").replace("-", "_").replace(" ", "_")
    if key not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name[:40]!r}; choose one of "
                         f"{', '.join(SCHEDULERS)}")
    return key


def request_problem(params: type[BaseModel], fields: dict[str, Any]) -> str | None:
    """What is wrong with a pipeline's request by its kind's params, in one line, or None."""
    try:
        params.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg'].removeprefix('Value error, ')}"
    if not str(fields.get("prompt", "")).strip():
        return "prompt: give it a prompt"
    return None


class _Prompted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Empty: the prompt comes from the job's intent input (farm render); see the handlers.
    prompt: str = Field("", max_length=MAX_PROMPT)
    negative_prompt: str = Field("", max_length=MAX_PROMPT)
    guidance: float = Field(7.0, ge=0.0, le=30.0)


class ImageParams(_Prompted):
    """Text to image: a Stable Diffusion 1.5-class pipeline."""

    steps: int = Field(25, ge=1, le=150)
    width: int = Field(512, ge=64, le=MAX_SIDE)
    height: int = Field(512, ge=64, le=MAX_SIDE)
    scheduler: str = "dpmpp_2m"
    images: int = Field(1, ge=1, le=8)

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, side: int) -> int:
        if side % 8:
            raise ValueError(f"must be a multiple of 8 (got {side}; try {side // 8 * 8 or 8})")
        return side

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, name: str) -> str:
        return scheduler_key(name)


class AudioParams(_Prompted):
    """Text to an audio texture (drone, ambient bed): Stable Audio or AudioLDM."""

    seconds: float = Field(10.0, ge=0.5, le=47.0)
    steps: int = Field(50, ge=1, le=500)
    loop: bool = True  # crossfade the tail into the head so the bed repeats without a click
    crossfade_s: float = Field(1.0, ge=0.01, le=10.0)
    bit_depth: Literal[16, 24] = 24

    @model_validator(mode="after")
    def _crossfade_fits(self) -> AudioParams:
        if self.loop and self.crossfade_s >= self.seconds:
            raise ValueError(f"crossfade_s ({self.crossfade_s:g}) must be shorter than seconds "
                             f"({self.seconds:g}) for a loop")
        return self
