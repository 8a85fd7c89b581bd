"""The `midi` kind: job params and seed in, `music.mid`, `music.music.json` and `report.json` out."""

from __future__ import annotations

import json
from typing import Any

from workers.runner import JobInputError, JobOutput, JobRun, KindRunner

_pipeline: Any = None


def _loaded() -> Any:
    """The process's MIDI pipeline, made once after the fork."""
    global _pipeline
    if _pipeline is None:
        from pipelines.midi import MidiPipeline

        _pipeline = MidiPipeline()
        _pipeline.load({})
    return _pipeline


def render_midi(run: JobRun) -> list[JobOutput]:
    from pipelines.errors import BadMusicParams
    from pipelines.midi import MidiRequest

    fields = dict(run.params)
    fields["instrumentation"] = tuple(fields.get("instrumentation", ()))
    fields["energy_curve"] = tuple(fields.get("energy_curve", ()))
    try:
        result = _loaded()(MidiRequest(seed=run.job.seed, **fields))
    except BadMusicParams as exc:
        raise JobInputError(str(exc)) from exc
    return [
        JobOutput("music.mid", result.midi, "audio/midi"),
        JobOutput("music.music.json", _canonical_json(result.music), "application/json"),
        JobOutput("report.json", _canonical_json(result.report), "application/json"),
    ]


def _canonical_json(data: dict) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=1) + "\n").encode()


MIDI = KindRunner(run=render_midi)
