"""The `midi` kind: job params and seed in, `music.mid`, `music.music.json`, `pianoroll.png` and
`report.json` out."""

from __future__ import annotations

from typing import Any

from workers.attempt import JobOutput, JobRun, json_bytes
from workers.errors import JobInputError
from workers.inputs import intent_input

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
    if found := intent_input(run):
        artifact_id, planned = found[0], dict(found[1]["midi_params"])
        # The intent fills what the submitter left to defaults; named params still win.
        fields.update({k: v for k, v in planned.items() if k in fields and k not in run.given})
        run.sources.append((artifact_id, "intent"))
    fields["instrumentation"] = tuple(fields.get("instrumentation", ()))
    fields["energy_curve"] = tuple(fields.get("energy_curve", ()))
    try:
        result = _loaded()(MidiRequest(seed=run.job.seed, **fields))
    except BadMusicParams as exc:
        raise JobInputError(str(exc)) from exc
    from pipelines.midi.pianoroll import render_pianoroll

    outputs = [JobOutput("music.mid", result.midi, "audio/midi"),
               JobOutput("music.music.json", json_bytes(result.music), "application/json"),
               JobOutput("pianoroll.png", render_pianoroll(result.music), "image/png")]
    report = dict(result.report)
    if preview := _preview(run, result.midi):
        outputs.append(preview[0])
        report["preview"] = preview[1]
    return [*outputs, JobOutput("report.json", json_bytes(report), "application/json")]


def _preview(run: JobRun, midi: bytes) -> tuple[JobOutput, dict[str, Any]] | None:
    """The optional WAV preview (config `midi.preview`) and its loudness check."""
    from pipelines.midi.errors import PreviewFailed, PreviewUnavailable
    from pipelines.midi.preview import loudness_check, render_wav

    conf = run.ctx.settings.midi
    if conf.preview is False:
        return None
    try:
        wav = render_wav(midi, soundfont=conf.soundfont)
    except PreviewUnavailable as exc:
        if conf.preview == "auto":
            run.note(f"no preview: {exc}")
            return None
        raise JobInputError(f"midi.preview is on but {exc}") from exc
    except PreviewFailed as exc:
        raise JobInputError(f"preview failed: {exc}") from exc
    return JobOutput("preview.wav", wav, "audio/wav"), loudness_check(wav).as_dict()
