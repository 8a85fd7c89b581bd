"""The MIDI pipeline: a structured intent and a seed in, a multi-track type-1 MIDI file out.

Reads top to bottom: check the request, plan key, meter, energy, sections and chords, write
each part from its own seeded stream, humanize, then build the canonical JSON, the MIDI bytes
and the report from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import BadMusicParams
from pipelines.midi.bass import bass_notes
from pipelines.midi.canonical import FORMAT, ROLES, music_to_midi, tempo_entry
from pipelines.midi.chords import chord_notes
from pipelines.midi.drums import drum_notes, groove
from pipelines.midi.form import Plan, bar_energies, chord_timeline, plan_sections
from pipelines.midi.humanize import humanize
from pipelines.midi.melody import melody_notes
from pipelines.midi.meter import PPQ, Meter, parse_time_signature
from pipelines.midi.score import Note, clean_notes
from pipelines.midi.seeds import stream
from pipelines.midi.styles import GENRES, MOOD_TABLE, MOODS, STYLES, default_swing
from pipelines.midi.theory import KEYS, MODES, Key, normalize_key, normalize_mode

CHANNELS = {"melody": 0, "chords": 1, "bass": 2, "drums": 9}
MAX_CURVE = 512


@dataclass(frozen=True)
class MidiRequest:
    """What to make; every field has a default, so MidiRequest() makes music."""

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
    """The file, its canonical JSON twin and the report card."""

    midi: bytes
    music: dict[str, Any] = field(repr=False)
    report: dict[str, Any] = field(repr=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _within(name: str, value: Any, low: float, high: float, integer: bool = False) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) if integer else _is_number(value)
    if not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise BadMusicParams(f"{name} {value!r} must be {kind} between {low:g} and {high:g}")


def _one_of(name: str, value: Any, normalize: Callable[[str], str | None],
            allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or normalize(value) is None:
        raise BadMusicParams(f"{name} {value!r} is not one of {', '.join(allowed)}")


def _lower(allowed: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda text: text.strip().lower() if text.strip().lower() in allowed else None


def check_request(req: MidiRequest) -> None:
    """Raise BadMusicParams naming the field, the bad value and what is allowed."""
    _one_of("genre", req.genre, _lower(GENRES), GENRES)
    _one_of("mood", req.mood, _lower(MOODS), MOODS)
    _one_of("key", req.key, normalize_key, KEYS)
    _one_of("mode", req.mode, normalize_mode, MODES)
    if not isinstance(req.time_signature, str) or parse_time_signature(req.time_signature) is None:
        raise BadMusicParams(f"time_signature {req.time_signature!r} must look like 4/4: "
                             "numerator 1..16 over 1, 2, 4, 8 or 16")
    _within("tempo_bpm", req.tempo_bpm, 20, 300)
    _within("bars", req.bars, 1, 512, integer=True)
    _within("energy", req.energy, 0, 1)
    _within("humanize_ms", req.humanize_ms, 0, 40)
    if req.swing is not None:
        _within("swing", req.swing, 0, 0.5)
    if not isinstance(req.energy_curve, tuple | list) or len(req.energy_curve) > MAX_CURVE:
        raise BadMusicParams(f"energy_curve must be a list of at most {MAX_CURVE} values 0..1")
    for value in req.energy_curve:
        _within("energy_curve value", value, 0, 1)
    roles = req.instrumentation
    if not isinstance(roles, tuple | list) or not roles or any(r not in ROLES for r in roles):
        raise BadMusicParams(f"instrumentation {roles!r} must be a non-empty subset of "
                             f"{', '.join(ROLES)}")
    _within("seed", req.seed, 0, 2**63 - 1, integer=True)


def make_plan(req: MidiRequest) -> Plan:
    """Key, meter, energy per bar, sections and chords: everything the parts share."""
    key = Key(normalize_key(req.key) or req.key, normalize_mode(req.mode) or req.mode)
    numerator, denominator = parse_time_signature(req.time_signature) or (4, 4)
    meter = Meter(numerator, denominator)
    style, mood = STYLES[req.genre.strip().lower()], MOOD_TABLE[req.mood.strip().lower()]
    energy = bar_energies(req.bars, float(req.energy), tuple(map(float, req.energy_curve)),
                          mood.energy)
    sections = plan_sections(energy)
    chords = chord_timeline(key, meter, style, mood, sections, stream(req.seed, "harmony"))
    swing = float(req.swing) if req.swing is not None else default_swing(style, req.tempo_bpm)
    return Plan(key=key, meter=meter, style=style, mood=mood, bars=req.bars,
                tempo_bpm=float(req.tempo_bpm), swing=swing, humanize_ms=float(req.humanize_ms),
                energy=energy, sections=sections, chords=chords)


def write_parts(plan: Plan, seed: int, roles: tuple[str, ...]) -> dict[str, list[Note]]:
    """Each requested part from its own stream, so dropping one part leaves the others as-is."""
    hits = groove(plan, stream(seed, "groove"))
    writers: dict[str, Callable[[], list[Note]]] = {
        "melody": lambda: melody_notes(plan, stream(seed, "melody")),
        "chords": lambda: chord_notes(plan, stream(seed, "chords")),
        "bass": lambda: bass_notes(plan, hits, stream(seed, "bass")),
        "drums": lambda: drum_notes(plan, hits),
    }
    parts = {}
    for role in ROLES:
        if role in roles:
            raw = writers[role]()
            felt = humanize(raw, plan, role, stream(seed, "humanize", role))
            parts[role] = clean_notes(felt, plan.total_ticks)
    return parts


def to_music(req: MidiRequest, plan: Plan, parts: dict[str, list[Note]]) -> dict[str, Any]:
    """The canonical JSON document of a generated piece."""
    tpb = plan.meter.ticks_per_bar
    tracks = [{
        "name": role, "role": role, "channel": CHANNELS[role],
        "program": 0 if role == "drums" else plan.style.programs[ROLES.index(role)],
        "notes": [n._asdict() for n in notes],
    } for role, notes in parts.items()]
    return {
        "format": FORMAT, "ppq": PPQ,
        "tempo_map": [tempo_entry(0, round(60_000_000 / plan.tempo_bpm))],
        "time_signature_map": [{"tick": 0, "numerator": plan.meter.numerator,
                                "denominator": plan.meter.denominator}],
        "key": plan.key.tonic, "mode": plan.key.mode, "genre": req.genre.strip().lower(),
        "mood": req.mood.strip().lower(), "seed": req.seed, "bars": plan.bars,
        "swing": plan.swing,
        "sections": [{"tick": s.start_bar * tpb, "bars": s.bars, "name": s.name}
                     for s in plan.sections],
        "tracks": tracks,
        "chords": [{"tick": c.tick, "duration": c.duration, "symbol": c.chord.symbol,
                    "degree": c.degree} for c in plan.chords],
    }


class MidiPipeline:
    """Plain object with the pipeline shape: load, call, unload. Nothing heavy to load."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    def load(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    def unload(self) -> None:
        self.config = {}

    def __call__(self, req: MidiRequest) -> MidiResult:
        check_request(req)
        plan = make_plan(req)
        parts = write_parts(plan, req.seed, tuple(req.instrumentation))
        music = to_music(req, plan, parts)
        from pipelines.midi.report import report_music  # imported late: see pipelines/midi/__init__

        return MidiResult(midi=music_to_midi(music), music=music, report=report_music(music))
