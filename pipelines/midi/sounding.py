"""What the accompaniment sounds at a moment: the harmony as played, which the melody writer fits to
and the report card's chord-tone ratio reads, so the two agree on what the harmony is."""

from __future__ import annotations

import bisect

from pipelines.midi.score import Note

# A note's harmony is what sounds this long after its onset: a humanized chord entering a little
# late still counts, one being let go does not.
LOOKAHEAD_MS = 40.0


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
