"""Bar grids for any time signature: felt beats, accent groups and metric strength in ticks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

PPQ = 480
EIGHTH = PPQ // 2
SIXTEENTH = PPQ // 4


def _groups(count: int) -> tuple[int, ...]:
    """Split `count` pulses into the 2s and 3s a listener hears (7 -> 2+2+3, 5 -> 3+2)."""
    if count <= 3:
        return (count,)
    if count == 7:
        return (2, 2, 3)
    if count % 3 == 0:
        return (3,) * (count // 3)
    if count % 3 == 1:
        return (3,) * ((count - 4) // 3) + (2, 2)
    return (3,) * (count // 3) + (2,)


@dataclass(frozen=True)
class Meter:
    """One time signature at PPQ ticks per quarter note."""

    numerator: int
    denominator: int

    @property
    def unit(self) -> int:
        return PPQ * 4 // self.denominator

    @property
    def ticks_per_bar(self) -> int:
        return self.unit * self.numerator

    @property
    def compound(self) -> bool:
        return self.denominator >= 8

    @cached_property
    def beats(self) -> tuple[tuple[int, int], ...]:
        """(offset, length) of each felt beat: quarters in x/4, groups of eighths in x/8."""
        if not self.compound:
            return tuple((i * self.unit, self.unit) for i in range(self.numerator))
        beats, offset = [], 0
        for size in _groups(self.numerator):
            beats.append((offset, size * self.unit))
            offset += size * self.unit
        return tuple(beats)

    @cached_property
    def accents(self) -> tuple[int, ...]:
        """Indices of the beats that open an accent group (always includes beat 0)."""
        starts, index = [], 0
        for size in _groups(len(self.beats)):
            starts.append(index)
            index += size
        return tuple(starts)

    def offbeat(self, beat: int) -> int:
        """Offset of the 'and' of a beat: the middle eighth, or the last of three."""
        start, length = self.beats[beat]
        eighths = max(1, length // EIGHTH)
        return start + ((eighths + 1) // 2) * EIGHTH if eighths > 1 else start + length // 2

    def strength(self, offset: int) -> float:
        """Metric weight of an offset in the bar: 1 downbeat .. 0.2 for a sixteenth."""
        offset %= self.ticks_per_bar
        if offset == 0:
            return 1.0
        starts = [start for start, _ in self.beats]
        if offset in starts:
            return 0.8 if starts.index(offset) in self.accents else 0.6
        if offset % EIGHTH == 0:
            return 0.4
        return 0.25 if offset % SIXTEENTH == 0 else 0.1

    def half_bar(self) -> int:
        """The beat start nearest the middle of the bar, for two chords per bar."""
        starts = [start for start, _ in self.beats[1:]] or [self.ticks_per_bar // 2]
        return min(starts, key=lambda s: (abs(2 * s - self.ticks_per_bar), s))

    def strong_offsets(self) -> tuple[int, ...]:
        """Offsets of every felt beat in the bar."""
        return tuple(start for start, _ in self.beats)
