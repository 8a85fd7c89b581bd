"""A toy job kind, kept as a test fixture: what adding a kind takes, and nothing more.

One registry entry, its pipeline, its handler. `python -m tests.toy_farm ARGS` is the `farm`
command of a farm that has this kind too (worker and submitter alike).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from jobs.kinds import Kind, register
from workers.attempt import JobOutput, JobRun


class ReverseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field("abc", min_length=1, max_length=100)


def reverse_text(text: str) -> str:  # the pipeline
    return text[::-1]


def render_reversed(run: JobRun) -> list[JobOutput]:  # the handler
    return [JobOutput("reversed.txt", reverse_text(run.params["text"]).encode(), "text/plain")]


REVERSE = register(Kind(
    name="reverse", tag="midi", params=ReverseParams, outputs=("reversed.txt",),
    handler="tests.toy_kind:render_reversed", description="a toy: the text, backwards",
))
