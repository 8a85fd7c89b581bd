"""Seeded multi-track MIDI: melody, chords, bass and drums, and its canonical JSON form."""

from pipelines.midi.canonical import midi_to_music, music_to_midi
from pipelines.midi.pipeline import (
    GENRES,
    KEYS,
    MODES,
    MOODS,
    ROLES,
    TIME_SIGNATURES,
    MidiPipeline,
    MidiRequest,
    MidiResult,
    check_request,
)
from pipelines.midi.report import report_music

__all__ = [
    "GENRES", "KEYS", "MODES", "MOODS", "ROLES", "TIME_SIGNATURES", "MidiPipeline", "MidiRequest",
    "MidiResult", "check_request", "midi_to_music", "music_to_midi", "report_music",
]
