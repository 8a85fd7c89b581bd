"""Diversity across pieces: how much of one piece's melody and progression another piece repeats.

Two seeds of one style should sound like two songs of that style, not one song re-voiced. The
measure is the n-gram overlap used for copy detection between texts and, in music, for
memorisation in generated melodies (cf. Yin et al., "Measuring When a Music Generation
Algorithm Copies Too Much", 2023; Hawthorne et al. on n-gram overlap): the share of one piece's
distinct n-grams that the other piece also has, averaged both ways.

- melody: 4-grams of (interval in semitones, onset-to-onset time in sixteenths, at most 16) of
  the melody line, so a tune and its transposition are one tune;
- progression: 4-grams of the estimated chords relative to the key (metrics_harmony.labels),
  so the same progression played in another voicing or rhythm is still the same progression.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

from pipelines.midi.metrics_harmony import estimate_chords, labels
from pipelines.midi.metrics_pitch import estimate_key
from pipelines.midi.piece import make_piece, melody_line

N = 4
Gram = tuple[Any, ...]


def _grams(tokens: list[Any]) -> frozenset[Gram]:
    return frozenset(tuple(tokens[i:i + N]) for i in range(len(tokens) - N + 1))


def fingerprint(music: dict[str, Any]) -> dict[str, frozenset[Gram]]:
    """The melody and progression n-grams of one canonical music document."""
    piece = make_piece(music)
    line = melody_line(piece.parts.get("melody", []), piece.ppq)
    sixteenth = piece.ppq / 4
    melody = [(b.pitch - a.pitch, min(16, round((b.tick - a.tick) / sixteenth)))
              for a, b in zip(line, line[1:], strict=False)]
    found = estimate_key(piece.pitched)
    key = piece.key or (found[0] if found else None)
    progression = labels(estimate_chords(piece), key) if key and piece.accompaniment else []
    return {"melody": _grams(melody), "progression": _grams(progression)}


def overlap(a: frozenset[Gram], b: frozenset[Gram]) -> float | None:
    """The share of each set's n-grams found in the other, averaged; None when either is empty."""
    if not a or not b:
        return None
    shared = len(a & b)
    return (shared / len(a) + shared / len(b)) / 2


def pairwise_overlap(prints: list[dict[str, frozenset[Gram]]], what: str) -> float | None:
    """The mean overlap of `what` (melody or progression) over every pair of pieces."""
    values = [overlap(x[what], y[what]) for x, y in itertools.combinations(prints, 2)]
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def cross_piece_overlap(musics: list[dict[str, Any]]) -> dict[str, float | None]:
    """Melody, progression and their mean ('overlap') over every pair of the given pieces."""
    prints = [fingerprint(m) for m in musics]
    melody, progression = pairwise_overlap(prints, "melody"), pairwise_overlap(prints, "progression")
    both = [v for v in (melody, progression) if v is not None]
    return {"melody": melody, "progression": progression,
            "overlap": statistics.fmean(both) if both else None}
