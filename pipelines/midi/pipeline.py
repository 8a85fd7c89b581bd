"""The MIDI pipeline: a structured intent and a seed in, a multi-track type-1 MIDI file out.

Reads top to bottom: check the request, plan key, meter, energy, sections and chords, write
each part from its own seeded stream, humanize, then build the canonical JSON, the MIDI bytes
and the report from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import ValidationError

from pipelines.errors import BadMusicParams
from pipelines.midi.bass import bass_notes
from pipelines.midi.canonical import FORMAT, music_to_midi, tempo_entry
from pipelines.midi.chords import chord_notes
from pipelines.midi.drums import drum_notes, groove
from pipelines.midi.form import Plan, bar_energies, chord_timeline, plan_sections
from pipelines.midi.humanize import humanize
from pipelines.midi.melody import melody_notes
from pipelines.midi.meter import PPQ, Meter
from pipelines.midi.score import Note, clean_notes
from pipelines.midi.seeds import stream
from pipelines.midi.styles import MOOD_TABLE, STYLES, default_swing
from pipelines.midi.theory import Key
from pipelines.vocabulary import ROLES, MusicParams, parse_time_signature

CHANNELS = {"melody": 0, "chords": 1, "bass": 2, "drums": 9}
MAX_SEED = 2**63 - 1
_DEFAULT = MusicParams()


@dataclass(frozen=True)
class MidiRequest:
    """What to make; every field has MusicParams' default, so MidiRequest() makes what a bare job does."""

    genre: str = _DEFAULT.genre
    mood: str = _DEFAULT.mood
    key: str = _DEFAULT.key
    mode: str = _DEFAULT.mode
    tempo_bpm: float = _DEFAULT.tempo_bpm
    time_signature: str = _DEFAULT.time_signature
    bars: int = _DEFAULT.bars
    energy: float = _DEFAULT.energy
    energy_curve: tuple[float, ...] = tuple(_DEFAULT.energy_curve)
    instrumentation: tuple[str, ...] = tuple(_DEFAULT.instrumentation)
    swing: float | None = _DEFAULT.swing
    humanize_ms: float = _DEFAULT.humanize_ms
    seed: int = 0


@dataclass(frozen=True)
class MidiResult:
    """The file, its canonical JSON twin and the report card."""

    midi: bytes
    music: dict[str, Any] = field(repr=False)
    report: dict[str, Any] = field(repr=False)


def check_request(req: MidiRequest) -> MusicParams:
    """The request's params, spellings normalized ('c#' -> 'C#'); else BadMusicParams, one line
    naming the field, the bad value and what is allowed."""
    given = {f.name: getattr(req, f.name) for f in fields(req) if f.name != "seed"}
    try:
        params = MusicParams.model_validate(given)
    except ValidationError as exc:
        raise BadMusicParams(_first_problem(exc)) from exc
    seed = req.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise BadMusicParams(f"seed {seed!r} must be an integer between 0 and {MAX_SEED}")
    return params


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "value_error":
        return message  # MusicParams' own messages name the field and the value
    return f"{'.'.join(map(str, first['loc']))}: {message}"


def make_plan(params: MusicParams, seed: int) -> Plan:
    """Key, meter, energy per bar, sections and chords: everything the parts share."""
    key = Key(params.key, params.mode)
    numerator, denominator = parse_time_signature(params.time_signature) or (4, 4)
    meter = Meter(numerator, denominator)
    style, mood = STYLES[params.genre], MOOD_TABLE[params.mood]
    energy = bar_energies(params.bars, params.energy, tuple(params.energy_curve), mood.energy)
    sections = plan_sections(energy)
    chords = chord_timeline(key, meter, style, params.genre, mood, sections, stream(seed, "harmony"))
    swing = params.swing if params.swing is not None else default_swing(style, params.tempo_bpm)
    return Plan(key=key, meter=meter, style=style, mood=mood, bars=params.bars,
                tempo_bpm=params.tempo_bpm, swing=swing, humanize_ms=params.humanize_ms,
                energy=energy, sections=sections, chords=chords)


def write_parts(plan: Plan, seed: int, roles: tuple[str, ...]) -> dict[str, list[Note]]:
    """Each requested part from its own stream, so dropping one part leaves the others as-is. The
    chords and bass are always written, since the melody is fitted to what they sound."""
    hits = groove(plan, stream(seed, "groove"))
    comp = chord_notes(plan, stream(seed, "chords"))
    bass = bass_notes(plan, hits, stream(seed, "bass"))
    writers: dict[str, Callable[[], list[Note]]] = {
        "melody": lambda: melody_notes(plan, stream(seed, "melody"), comp + bass),
        "chords": lambda: comp,
        "bass": lambda: bass,
        "drums": lambda: drum_notes(plan, hits),
    }
    parts = {}
    for role in ROLES:
        if role in roles:
            raw = writers[role]()
            felt = humanize(raw, plan, role, stream(seed, "humanize", role))
            parts[role] = clean_notes(felt, plan.total_ticks)
    return parts


def to_music(params: MusicParams, seed: int, plan: Plan, parts: dict[str, list[Note]]) -> dict[str, Any]:
    """The canonical JSON document of a generated piece."""
    tpb = plan.meter.ticks_per_bar
    tracks = [{
        "name": role, "role": role, "channel": CHANNELS[role],
        "program": 0 if role == "drums" else plan.style.programs[ROLES.index(role)],
        "notes": [n.as_dict() for n in notes],
    } for role, notes in parts.items()]
    return {
        "format": FORMAT, "ppq": PPQ,
        "tempo_map": [tempo_entry(0, round(60_000_000 / plan.tempo_bpm))],
        "time_signature_map": [{"tick": 0, "numerator": plan.meter.numerator,
                                "denominator": plan.meter.denominator}],
        "key": plan.key.tonic, "mode": plan.key.mode, "genre": params.genre,
        "mood": params.mood, "seed": seed, "bars": plan.bars,
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
        params = check_request(req)
        plan = make_plan(params, req.seed)
        parts = write_parts(plan, req.seed, tuple(params.instrumentation))
        music = to_music(params, req.seed, plan, parts)
        from pipelines.midi.report import report_music  # imported late: see pipelines/midi/__init__

        return MidiResult(midi=music_to_midi(music), music=music, report=report_music(music))
