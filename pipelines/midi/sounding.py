"""What the accompaniment sounds at a moment: the harmony as played, which the melody writer fits to
and the report card's chord-tone ratio reads, so the two agree on what the harmony is.

A melody note is a tone of that harmony when its pitch class sounds below it; or when, with the
pitch classes sounding below, it completes a triad (a soprano's third over root and fifth, as in
four-part writing, where one tone of the chord is often left to the top voice); or, over a lone
note, when it is a consonance above it (a third, fifth or sixth). Sevenths and tensions count
only when the voicing sounds them. On Bach chorales this gives about 0.75, on random notes and
C-major random walks about 0.45.
"""

from __future__ import annotations

import bisect

from pipelines.midi.score import Note

# A note's harmony is what sounds this long after its onset: a humanized chord entering a little
# late still counts, one being let go does not.
LOOKAHEAD_MS = 40.0
# Triads (major, minor, diminished, augmented) as interval sets above a root. Sevenths count
# when the voicing sounds them; spelling them from fewer tones would admit nearly any note.
TEMPLATES = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8))
CHORDS = tuple(frozenset((root + i) % 12 for i in intervals) for intervals in TEMPLATES
               for root in range(12))
CONSONANT_ABOVE = frozenset({3, 4, 7, 8, 9})  # thirds, fifth, sixths above a lone note


def is_chord_tone(pc: int, below: frozenset[int]) -> bool:
    """Whether pitch class `pc` belongs to the harmony the pitch classes `below` sound."""
    if pc in below:
        return True
    if len(below) == 1:
        return (pc - next(iter(below))) % 12 in CONSONANT_ABOVE
    spelled = below | {pc}
    return any(spelled <= chord for chord in CHORDS)


class Sounding:
    """Accompaniment notes indexed by onset, to ask which pitch classes sound below a pitch."""

    def __init__(self, notes: list[Note]) -> None:
        self.notes = sorted(notes)
        self.starts = [n.tick for n in self.notes]
        self.longest = max((n.duration for n in self.notes), default=0)

    def below(self, at: int, pitch: int) -> frozenset[int]:
        """Pitch classes of the notes sounding at tick `at` lower than `pitch`."""
        first = bisect.bisect_left(self.starts, at - self.longest)
        last = bisect.bisect_right(self.starts, at)
        return frozenset(n.pitch % 12 for n in self.notes[first:last] if n.end > at and n.pitch < pitch)
