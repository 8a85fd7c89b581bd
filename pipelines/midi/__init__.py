"""Seeded multi-track MIDI (melody, chords, bass, drums), its canonical JSON form and its report card."""

from typing import Any

from pipelines.midi.canonical import midi_to_music, music_to_midi
from pipelines.midi.pipeline import MidiPipeline, MidiRequest, MidiResult, check_request
from pipelines.vocabulary import GENRES, KEYS, MODES, MOODS, ROLES, TIME_SIGNATURES

__all__ = [
    "GENRES", "KEYS", "MODES", "MOODS", "ROLES", "TIME_SIGNATURES", "MidiPipeline", "MidiRequest",
    "MidiResult", "check_request", "midi_to_music", "music_to_midi", "report_midi", "report_music",
]


def __getattr__(name: str) -> Any:
    # The report is imported on first use, so `python -m pipelines.midi.report` runs it only once.
    if name in ("report_music", "report_midi"):
        from pipelines.midi import report

        return getattr(report, name)
    raise AttributeError(f"module 'pipelines.midi' has no attribute {name!r}")
