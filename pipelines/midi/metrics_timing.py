"""Timing metrics read on a swing-aware grid: drums on the grid, and the melody's rhythm coming back.

- The grid, per felt beat: the straight sixteenths; in simple meters also the triplet eighths;
  and the part's own swung offbeats, the median position of its onsets that fall between the
  straight and the triplet offbeat (or just past it). Swing is a place on the grid, not an
  error: a hi-hat swung to a triplet feel is on the grid, one smeared around it is not.
- drum_on_grid: share of drum onsets within 15 ms of a grid position. Onsets closer than that
  are heard as together (Hirsh 1959 puts the order threshold near 20 ms; Rasch 1979 measured
  ensemble asynchronies of 30-50 ms as loose); a groove whose hits mostly sit further off
  sounds out of time rather than human.
- melodic_rhythm_repetition: for each melody bar with two or more onsets after the first
  such bar, the best Jaccard similarity of its onset positions (on the grid above) with any
  of the four bars before; the mean over bars. Motifs that come back, varied in pitch, give
  values near 1; a rhythm drawn afresh every bar gives little (Huron, "Sweet Anticipation",
  2006, ch. 13 on repetition; Temperley 2001 on rhythmic parallelism).
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable

from pipelines.midi.piece import Piece
from pipelines.midi.score import Note

ON_GRID_MS = 15.0
LOOK_BACK_BARS = 4
STRAIGHT = (0.0, 0.25, 0.5, 0.75)
TRIPLET = (1 / 3, 2 / 3)
MERGE = 0.06  # of a beat: positions closer than this are one position


def _beat_positions(piece: Piece, notes: Iterable[Note]) -> list[tuple[int, int, float, int]]:
    """(bar index, beat index in the bar, fraction of the beat, beat length) of every onset."""
    beats = piece.beats()
    starts = [start for start, _ in beats]
    bar_first_beat: dict[int, int] = {}
    for index, (start, _) in enumerate(beats):
        bar_first_beat.setdefault(piece.bar_of(start)[0], index)
    out = []
    for note in notes:
        index = max(0, bisect.bisect_right(starts, note.tick) - 1)
        start, end = beats[index]
        bar, length = piece.bar_of(start)[0], max(1, end - start)
        out.append((bar, index - bar_first_beat[bar], (note.tick - start) / length, length))
    return out


def _swung(fractions: list[float], low: float, high: float, shift: float) -> float | None:
    """The median of the fractions in (low, high], minus `shift`; None when fewer than three."""
    inside = [f - shift for f in fractions if low < f <= high]
    return statistics.median(inside) if len(inside) >= 3 else None


def swing_grid(piece: Piece, notes: list[Note]) -> tuple[float, ...]:
    """Grid positions inside a simple beat (0..1), with this part's own swung offbeats."""
    fractions = [f for _, _, f, _ in _beat_positions(piece, notes)]
    swung = []
    eighth = _swung(fractions, 0.52, 0.72, 0.0)
    if eighth is not None:
        swung.append(eighth)
    sixteenth = _swung([f % 0.5 for f in fractions], 0.26, 0.36, 0.25)
    if sixteenth is not None:
        swung += [0.25 + sixteenth, 0.75 + sixteenth]
    # A swung offbeat replaces the straight or triplet position it nearly sits on, so one
    # played position is never split between two grid slots.
    fixed = [g for g in STRAIGHT + TRIPLET + (1.0,) if all(abs(g - s) >= MERGE for s in swung)]
    return tuple(sorted(fixed + swung))


def _compound_grid() -> tuple[float, ...]:
    return tuple(k / 6 for k in range(7))  # sixteenths of a dotted-quarter beat


def _grid_for(piece: Piece, bar: int, grid: tuple[float, ...]) -> tuple[float, ...]:
    return _compound_grid() if piece.bars[bar].meter.compound else grid


def drum_on_grid(piece: Piece, drums: list[Note]) -> float | None:
    if not drums:
        return None
    grid, on = swing_grid(piece, drums), 0
    for note, (bar, _, fraction, length) in zip(drums, _beat_positions(piece, drums), strict=True):
        nearest = min(abs(fraction - g) for g in _grid_for(piece, bar, grid))
        on += nearest * length * piece.ms_per_tick(note.tick) <= ON_GRID_MS
    return on / len(drums)


def bar_rhythms(piece: Piece, line: list[Note]) -> dict[int, frozenset[tuple[int, int]]]:
    """Per bar, the melody's onsets as (beat, index of the nearest grid position)."""
    grid = swing_grid(piece, line)
    bars: dict[int, set[tuple[int, int]]] = {}
    for bar, beat, fraction, _ in _beat_positions(piece, line):
        positions = _grid_for(piece, bar, grid)
        slot = min(range(len(positions)), key=lambda i: (abs(fraction - positions[i]), i))
        if slot == len(positions) - 1:
            beat, slot = beat + 1, 0  # the end of a beat is the start of the next
        bars.setdefault(bar, set()).add((beat, slot))
    return {bar: frozenset(slots) for bar, slots in bars.items()}


def _jaccard(a: frozenset[tuple[int, int]], b: frozenset[tuple[int, int]]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def melodic_rhythm_repetition(piece: Piece, line: list[Note]) -> float | None:
    rhythms = bar_rhythms(piece, line)
    busy = sorted(bar for bar, slots in rhythms.items() if len(slots) >= 2)
    scores = []
    for bar in busy[1:]:
        earlier = [rhythms.get(bar - k, frozenset()) for k in range(1, LOOK_BACK_BARS + 1)]
        scores.append(max(_jaccard(rhythms[bar], other) for other in earlier))
    return statistics.fmean(scores) if scores else None
