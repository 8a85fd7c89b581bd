"""A read-only view of a canonical music document for the report card: parts by role, bars, beats.

Files from elsewhere name their tracks freely; the view gives every part a role, so one report
card fits generated pieces, chorales and folk songs alike.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from pipelines.midi.meter import PPQ, Meter
from pipelines.midi.score import Note
from pipelines.midi.theory import Key
from pipelines.vocabulary import ROLES

PITCHED_ROLES = ("melody", "chords", "bass")


class Bar(NamedTuple):
    """One bar: where it starts, how long it is, its meter, and the sixteenth in this file's ticks."""

    start: int
    length: int
    meter: Meter
    sixteenth: float


def _mean_pitch(notes: list[Note]) -> float:
    return sum(n.pitch for n in notes) / len(notes)


def assign_roles(tracks: list[dict[str, Any]]) -> dict[str, list[Note]]:
    """Notes by role. Tracks of no known role: the highest becomes the melody when there is none,
    the lowest the bass when there is none, the rest accompany as chords."""
    parts: dict[str, list[Note]] = {}
    others: list[list[Note]] = []
    for track in tracks:
        notes = [Note.from_dict(n) for n in track["notes"]]
        if not notes:
            continue
        if track["role"] in ROLES:
            parts.setdefault(track["role"], []).extend(notes)
        else:
            others.append(notes)
    others.sort(key=_mean_pitch)
    if others and "melody" not in parts:
        parts["melody"] = others.pop()
    if len(others) >= 2 and "bass" not in parts:
        parts["bass"] = others.pop(0)
    for notes in others:
        parts.setdefault("chords", []).extend(notes)
    return {role: sorted(notes) for role, notes in parts.items()}


def _bars(music: dict[str, Any], end: int) -> list[Bar]:
    ppq = music["ppq"]
    sigs = sorted(music["time_signature_map"], key=lambda s: s["tick"]) or [
        {"tick": 0, "numerator": 4, "denominator": 4}]
    bars: list[Bar] = []
    tick, index = 0, 0
    while tick < end or not bars:
        while index + 1 < len(sigs) and sigs[index + 1]["tick"] <= tick:
            index += 1
        meter = Meter(max(1, sigs[index]["numerator"]), max(1, sigs[index]["denominator"]))
        length = max(1, round(meter.ticks_per_bar * ppq / PPQ))
        bars.append(Bar(tick, length, meter, ppq / 4))
        tick += length
    return bars


@dataclass
class Piece:
    """Parts by role, the bar grid and the tempo map of one piece."""

    ppq: int
    parts: dict[str, list[Note]]
    bars: list[Bar]
    key: Key | None
    tempo_map: list[dict[str, Any]]
    _bar_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._bar_starts = [b.start for b in self.bars]

    @cached_property
    def pitched(self) -> list[Note]:
        return sorted(n for role in PITCHED_ROLES for n in self.parts.get(role, []))

    @cached_property
    def accompaniment(self) -> list[Note]:
        return sorted(n for role in ("chords", "bass") for n in self.parts.get(role, []))

    @property
    def end(self) -> int:
        return self.bars[-1].start + self.bars[-1].length

    def bar_of(self, tick: int) -> tuple[int, Bar]:
        index = max(0, bisect.bisect_right(self._bar_starts, tick) - 1)
        return index, self.bars[index]

    def beats(self) -> list[tuple[int, int]]:
        """(start, end) of every felt beat in the piece."""
        spans = []
        for bar in self.bars:
            scale = self.ppq / PPQ
            for offset, length in bar.meter.beats:
                start = bar.start + round(offset * scale)
                spans.append((start, start + round(length * scale)))
        return spans

    def ms_per_tick(self, tick: int) -> float:
        us = 500_000
        for entry in self.tempo_map:
            if entry["tick"] <= tick:
                us = entry["us_per_beat"]
        return us / self.ppq / 1000.0


def make_piece(music: dict[str, Any]) -> Piece:
    """The report's view of a canonical music document."""
    parts = assign_roles(music["tracks"])
    last = max((n.end for notes in parts.values() for n in notes), default=0)
    tempos = sorted(music["tempo_map"], key=lambda e: e["tick"])
    key = Key.named(music.get("key"), music.get("mode"))
    return Piece(music["ppq"], parts, _bars(music, last), key, tempos)


def melody_line(notes: list[Note], ppq: int) -> list[Note]:
    """A monophonic line: of notes starting within a 64th of each other the highest (skyline)."""
    line: list[Note] = []
    window = max(1, ppq // 16)
    for note in sorted(notes, key=lambda n: (n.tick, -n.pitch)):
        if line and note.tick - line[-1].tick < window:
            continue
        line.append(note)
    return line
