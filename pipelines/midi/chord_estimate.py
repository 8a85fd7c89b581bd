"""The chords a listener hears in the accompaniment: harmony estimated per span of beats, not per beat.

A listener hears an arpeggiated C major bar as one C chord, though each beat alone sounds only a
tone or two of it, and a bass walking root-fifth as one harmony over its root. So within each bar
the felt beats are segmented into harmonies: every split of the bar into runs of beats is scored
by how well one triad template explains each run's duration-weighted pitch classes (Fujishima 1999;
Harte & Sandler 2005), the bass sounding at the run's onset favoured as the root (figured-bass
practice), a beat sounding one pitch class alone (a walking bass's approach note) starts no new
chord, and each extra chord in the bar costs a fraction of a beat's weight: the simplest
harmony that explains the notes wins (segmentation as in Pardo & Birmingham, "Algorithms for
Chordal Analysis", Computer Music Journal 2002). Chorales, whose four voices move to a new triad
on most beats, still read so (a median 2.2 changes a bar; 2.8 when every beat was read alone):
there a new chord explains far more than it costs.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipelines.midi.piece import Piece
from pipelines.midi.score import Note

QUALITIES = {"M": (0, 4, 7), "m": (0, 3, 7), "d": (0, 3, 6)}
# Tones outside the triad count against it at half their weight; the chord's seventh only at a
# quarter: a listener hears Dm7's C as colour of Dm, not as a reason to hear F or Am instead.
OUTSIDE, SEVENTH = 0.5, 0.25
# What one more chord in a bar costs, as a share of the bar's mean weight per beat.
CHANGE_COST = 0.4
Cell = tuple[list[float], int]  # duration-weighted pitch classes of a beat, lowest pitch (-1: none)
Chord = tuple[int, str]  # root pitch class, quality


def beat_cells(notes: list[Note], beats: list[tuple[int, int]]) -> Iterable[Cell]:
    """Per beat: duration-weighted pitch-class histogram and the lowest pitch sounding at its onset
    (or, if none sounds then, the lowest struck in it)."""
    ordered, index, active = sorted(notes), 0, list[Note]()
    for start, end in beats:
        while index < len(ordered) and ordered[index].tick < end:
            active.append(ordered[index])
            index += 1
        active = [n for n in active if n.end > start]
        weights = [0.0] * 12
        for note in active:
            weights[note.pitch % 12] += min(end, note.end) - max(start, note.tick)
        onset = [n.pitch for n in active if n.tick <= start + (end - start) // 8]
        yield weights, min(onset or [n.pitch for n in active] or [-1])


def fit(weights: list[float], lowest: int, root: int, quality: str) -> float:
    """How well one triad explains the weights: tones inside minus tones outside, bass as root."""
    total = sum(weights)
    inside = sum(weights[(root + i) % 12] for i in QUALITIES[quality])
    seventh = weights[(root + 10) % 12] + (weights[(root + 11) % 12] if quality == "M" else 0.0)
    outside = total - inside - seventh
    return inside - OUTSIDE * outside - SEVENTH * seventh + (0.25 * total if lowest % 12 == root else 0.0)


def best_chord(weights: list[float], lowest: int) -> tuple[float, Chord]:
    """The best-fitting triad and its fit; ties go to the lower root, then major over minor."""
    score, neg_root, quality = max((fit(weights, lowest, root, quality), -root, quality)
                                   for quality in QUALITIES for root in range(12))
    return score, (-neg_root, quality)


def _run(cells: list[Cell]) -> tuple[float, Chord]:
    weights = [sum(cell[0][pc] for cell in cells) for pc in range(12)]
    lowest = next((low for _, low in cells if low >= 0), -1)
    return best_chord(weights, lowest)


def segment_bar(cells: list[Cell]) -> list[Chord | None]:
    """The bar's beats split into runs of one chord each, the split that explains the most."""
    count = len(cells)
    cost = CHANGE_COST * sum(sum(w) for w, _ in cells) / max(1, count)
    best: list[tuple[float, list[Chord]]] = [(0.0, [])]
    for end in range(1, count + 1):
        options = []
        for start in range(end):
            if start and sum(w > 0 for w in cells[start][0]) < 2:
                continue  # a lone note (a walking bass, an arpeggio's tone) passes; it starts no chord
            score, chord = _run(cells[start:end])
            before, chords = best[start]
            options.append((before + score - cost, start, chords + [chord] * (end - start)))
        top = max(options, key=lambda o: (o[0], -o[1]))  # equal scores: the longer run
        best.append((top[0], top[2]))
    return [chord if sum(cells[i][0]) > 0 else None for i, chord in enumerate(best[count][1])]


def estimate_chords(piece: Piece) -> list[tuple[int, int, str] | None]:
    """Per felt beat: (bar index, root pitch class, quality), or None where nothing sounds."""
    beats = piece.beats()
    cells = list(beat_cells(piece.accompaniment, beats))
    bars = [piece.bar_of(start)[0] for start, _ in beats]
    chords: list[tuple[int, int, str] | None] = []
    first = 0
    while first < len(beats):
        last = first
        while last < len(beats) and bars[last] == bars[first]:
            last += 1
        for chord in segment_bar(cells[first:last]):
            chords.append(None if chord is None else (bars[first], *chord))
        first = last
    return chords
