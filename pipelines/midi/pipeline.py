"""The MIDI pipeline: a structured intent and a seed in, a multi-track type-1 MIDI file out.

Reads top to bottom: check the request, lay out the grid and harmony, write each part,
humanize, then build the canonical JSON and the MIDI bytes from it.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import BadMusicParams
from pipelines.midi.canonical import FORMAT, music_to_midi, tempo_entry, trim_overlaps
from pipelines.midi.drums import drum_notes
from pipelines.midi.grid import PPQ, Grid
from pipelines.midi.harmony import ChordSpan, bass_notes, chord_notes, progression, voice_lead
from pipelines.midi.humanize import humanize
from pipelines.midi.melody import melody_notes
from pipelines.midi.report import report_music
from pipelines.midi.styles import MOOD_SHIFT, STYLES, swing_for
from pipelines.midi.theory import MODE_STEPS, PITCH_CLASSES, Scale

GENRES = tuple(STYLES)
MOODS = tuple(MOOD_SHIFT)
KEYS = tuple(PITCH_CLASSES)
MODES = tuple(MODE_STEPS)
ROLES = ("melody", "chords", "bass", "drums")
TIME_SIGNATURES = ("2/4", "3/4", "4/4", "5/4", "6/8", "7/8", "9/8", "12/8")
CHANNELS = {"melody": 0, "chords": 1, "bass": 2, "drums": 9}
TIGHTNESS = {"melody": 1.0, "chords": 0.7, "bass": 0.5, "drums": 0.4}


@dataclass(frozen=True)
class MidiRequest:
    genre: str = "triphop"
    mood: str = "moody"
    key: str = "D"
    mode: str = "minor"
    tempo_bpm: float = 90.0
    time_signature: str = "4/4"
    bars: int = 16
    energy: float = 0.5
    energy_curve: tuple[float, ...] = ()
    instrumentation: tuple[str, ...] = ROLES
    swing: float | None = None
    humanize_ms: float = 8.0
    seed: int = 0


@dataclass(frozen=True)
class MidiResult:
    midi: bytes
    music: dict[str, Any] = field(repr=False)
    report: dict[str, Any] = field(repr=False)


def _one_of(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise BadMusicParams(f"{name} {value!r} is not one of {', '.join(map(str, allowed))}")


def _within(name: str, value: float, low: float, high: float) -> None:
    if not isinstance(value, int | float) or not low <= value <= high:
        raise BadMusicParams(f"{name} {value!r} must be between {low:g} and {high:g}")


def check_request(req: MidiRequest) -> None:
    """Raise BadMusicParams naming the field, the value and what is allowed."""
    _one_of("genre", req.genre, GENRES)
    _one_of("mood", req.mood, MOODS)
    _one_of("key", req.key, KEYS)
    _one_of("mode", req.mode, MODES)
    _one_of("time_signature", req.time_signature, TIME_SIGNATURES)
    _within("tempo_bpm", req.tempo_bpm, 20, 300)
    _within("bars", req.bars, 1, 512)
    _within("energy", req.energy, 0, 1)
    _within("humanize_ms", req.humanize_ms, 0, 40)
    if req.swing is not None:
        _within("swing", req.swing, 0, 0.5)
    for value in req.energy_curve:
        _within("energy_curve value", value, 0, 1)
    if not req.instrumentation or any(r not in ROLES for r in req.instrumentation):
        raise BadMusicParams(f"instrumentation {list(req.instrumentation)!r} must be a non-empty "
                             f"subset of {', '.join(ROLES)}")
    if not isinstance(req.seed, int) or req.seed < 0:
        raise BadMusicParams(f"seed {req.seed!r} must be a non-negative integer")


def stream(seed: int, name: str) -> random.Random:
    """An independent random stream per part, the same in every process."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def energy_per_bar(req: MidiRequest) -> list[float]:
    """The intent's curve spread over the bars, else the base energy with a gentle arc."""
    shift = MOOD_SHIFT[req.mood][0]
    values = []
    for bar in range(req.bars):
        where = bar / max(1, req.bars - 1)
        if req.energy_curve:
            position = where * (len(req.energy_curve) - 1)
            low = int(math.floor(position))
            high = min(low + 1, len(req.energy_curve) - 1)
            base = req.energy_curve[low] + (req.energy_curve[high] - req.energy_curve[low]) * (position - low)
        else:
            base = req.energy + 0.18 * math.sin(math.pi * where) - 0.05
        values.append(round(min(1.0, max(0.0, base + shift)), 4))
    return values


class MidiPipeline:
    """Plain object with the pipeline shape: load, call, unload. Nothing heavy to load."""

    def load(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    def unload(self) -> None:
        self.config = {}

    def __call__(self, req: MidiRequest) -> MidiResult:
        check_request(req)
        music = compose(req)
        return MidiResult(midi=music_to_midi(music), music=music, report=report_music(music))


def compose(req: MidiRequest) -> dict[str, Any]:
    numerator, denominator = (int(x) for x in req.time_signature.split("/"))
    grid, scale, style = Grid(numerator, denominator, req.bars), Scale(req.key, req.mode), STYLES[req.genre]
    energy = energy_per_bar(req)
    spans = progression(scale, style, grid, stream(req.seed, "progression"))
    parts = {
        "chords": lambda: chord_notes(spans, voice_lead(spans), style, grid, energy,
                                      stream(req.seed, "chords")),
        "bass": lambda: bass_notes(spans, scale, style, grid, energy, stream(req.seed, "bass")),
        "melody": lambda: melody_notes(spans, scale, grid, energy,
                                       style.melody_density * MOOD_SHIFT[req.mood][1],
                                       stream(req.seed, f"melody:{req.genre}")),
        "drums": lambda: drum_notes(style, grid, energy, stream(req.seed, "drums")),
    }
    swing = req.swing if req.swing is not None else swing_for(style, req.tempo_bpm)
    tracks = []
    for role in ROLES:
        if role not in req.instrumentation:
            continue
        notes = humanize(parts[role](), grid, req.tempo_bpm, swing, style.swing_unit,
                         req.humanize_ms, TIGHTNESS[role], stream(req.seed, f"humanize:{role}"))
        program = 0 if role == "drums" else style.programs[("melody", "chords", "bass").index(role)]
        tracks.append({"name": role, "role": role, "channel": CHANNELS[role], "program": program,
                       "notes": _clean(notes, grid)})
    return {
        "format": FORMAT, "ppq": PPQ, "genre": req.genre, "mood": req.mood, "key": req.key,
        "mode": req.mode, "seed": req.seed, "bars": req.bars, "swing": swing,
        "tempo_map": [tempo_entry(0, req.tempo_bpm)],
        "time_signature_map": [{"tick": 0, "numerator": numerator, "denominator": denominator}],
        "tracks": [t for t in tracks if t["notes"]],
        "chords": [_chord_doc(s) for s in spans],
    }


def _clean(notes: list[dict[str, int]], grid: Grid) -> list[dict[str, int]]:
    """One note per (tick, pitch), inside the piece, no same-pitch overlaps."""
    unique: dict[tuple[int, int], dict[str, int]] = {}
    for n in notes:
        if n["tick"] >= grid.total_ticks:
            continue
        n = {**n, "duration": min(n["duration"], grid.total_ticks - n["tick"])}
        key = (n["tick"], n["pitch"])
        if key not in unique or unique[key]["velocity"] < n["velocity"]:
            unique[key] = n
    return trim_overlaps(list(unique.values()))


def _chord_doc(span: ChordSpan) -> dict[str, Any]:
    return {"tick": span.tick, "duration": span.duration, "symbol": span.symbol,
            "degree": span.degree, "pcs": list(span.pcs)}
