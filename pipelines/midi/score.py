"""Notes as the generators write them, and the clean-up every track gets before it is kept."""

from __future__ import annotations

from typing import Any, NamedTuple


class Note(NamedTuple):
    """One note in ticks; velocity 1..127. Canonical JSON writes it as a dict of these four fields."""

    tick: int
    duration: int
    pitch: int
    velocity: int

    @property
    def end(self) -> int:
        return self.tick + self.duration

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Note:
        return cls(data["tick"], data["duration"], data["pitch"], data["velocity"])

    def as_dict(self) -> dict[str, int]:
        return {"tick": self.tick, "duration": self.duration, "pitch": self.pitch,
                "velocity": self.velocity}


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def clean_notes(notes: list[Note], end_tick: int) -> list[Note]:
    """Notes sorted by (tick, pitch), inside [0, end_tick), one per (tick, pitch), and no
    same-pitch overlap (the earlier note is trimmed), so MIDI note pairing is unambiguous."""
    best: dict[tuple[int, int], Note] = {}
    for note in notes:
        tick = int(clamp(note.tick, 0, end_tick - 1))
        duration = int(clamp(note.duration, 1, end_tick - tick))
        fixed = Note(tick, duration, int(clamp(note.pitch, 0, 127)),
                     int(clamp(note.velocity, 1, 127)))
        key = (fixed.tick, fixed.pitch)
        if key not in best or (fixed.velocity, fixed.duration) > (best[key].velocity,
                                                                   best[key].duration):
            best[key] = fixed
    ordered = sorted(best.values(), key=lambda n: (n.tick, n.pitch))
    last_by_pitch: dict[int, int] = {}
    for index, note in enumerate(ordered):
        previous = last_by_pitch.get(note.pitch)
        if previous is not None:
            before = ordered[previous]
            if before.tick + before.duration > note.tick:
                ordered[previous] = before._replace(duration=note.tick - before.tick)
        last_by_pitch[note.pitch] = index
    return ordered
