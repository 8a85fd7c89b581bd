"""The `midi` kind: job params and seed in, `music.mid`, `music.music.json` and `report.json` out."""

from __future__ import annotations

import json

from pipelines.errors import BadMusicParams
from pipelines.midi import MidiPipeline, MidiRequest
from storage.models import JobRecord
from workers.context import ProcessContext
from workers.runner import JobInputError, JobOutput

_pipeline: MidiPipeline | None = None


def _loaded() -> MidiPipeline:
    global _pipeline
    if _pipeline is None:
        _pipeline = MidiPipeline()
        _pipeline.load({})
    return _pipeline


def render_midi(job: JobRecord, params: dict, ctx: ProcessContext) -> list[JobOutput]:
    fields = dict(params)
    fields["instrumentation"] = tuple(fields.get("instrumentation", ()))
    fields["energy_curve"] = tuple(fields.get("energy_curve", ()))
    try:
        result = _loaded()(MidiRequest(seed=job.seed, **fields))
    except BadMusicParams as exc:
        raise JobInputError(str(exc)) from exc
    return [
        JobOutput("music.mid", result.midi, "audio/midi"),
        JobOutput("music.music.json", _canonical_json(result.music), "application/json"),
        JobOutput("report.json", _canonical_json(result.report), "application/json"),
    ]


def _canonical_json(data: dict) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=1) + "\n").encode()
