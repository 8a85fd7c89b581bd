"""Seeded multi-track MIDI (melody, chords, bass, drums) and its canonical JSON form."""

from pipelines.midi.canonical import ROLES, midi_to_music, music_to_midi
from pipelines.midi.meter import TIME_SIGNATURES
from pipelines.midi.pipeline import MidiPipeline, MidiRequest, MidiResult, check_request
from pipelines.midi.report import report_music
from pipelines.midi.styles import GENRES, MOODS
from pipelines.midi.theory import KEYS, MODES

__all__ = [
    "GENRES", "KEYS", "MODES", "MOODS", "ROLES", "TIME_SIGNATURES", "MidiPipeline", "MidiRequest",
    "MidiResult", "check_request", "midi_to_music", "music_to_midi", "report_music",
]
