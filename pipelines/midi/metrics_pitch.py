"""Pitch and melody metrics of the report card, each with the source of its definition.

- pitch_class_entropy: Shannon entropy (bits) of the pitch-class histogram of pitched notes;
  as muspy.pitch_class_entropy, after Wu & Yang, "The Jazz Transformer on the Front Line",
  ISMIR 2020. 0 for one pitch class, log2(12) = 3.585 for all twelve equally.
- scale_consistency: the largest share of notes inside one major or natural-minor scale;
  as muspy.scale_consistency, after Mogren, "C-RNN-GAN", 2016.
- key_correlation: Krumhansl-Schmuckler key finding: the largest Pearson correlation of the
  duration-weighted pitch-class histogram with the 24 rotated Krumhansl & Kessler (1982) probe-
  tone profiles (Krumhansl, "Cognitive Foundations of Musical Pitch", 1990, ch. 4).
- in_key_ratio: share of pitched notes in the declared key's scale, else in the estimated key's
  (muspy.pitch_in_scale_rate, after Dong et al., "MuseGAN", AAAI 2018).
- melody_step_ratio: of the melody's moves (repeated notes left out), the share of one or two
  semitones; conjunct motion dominates melodies across cultures (Huron, "Sweet Anticipation",
  2006, ch. 5; von Hippel & Huron 2000).
- melody_range: highest minus lowest melody pitch, in semitones.
- motif_reuse: share of the melody's interval 3-grams (four-note motifs, transposition-free) that
  occur more than once: repetition of motifs (Huron 2006, ch. 13; Conklin & Anagnostopoulou 2001).
- contour_repetition: the same for 8-grams of melodic contour (up, down, same).
"""

from __future__ import annotations

import math
from collections import Counter

from pipelines.midi.score import Note
from pipelines.midi.theory import MODE_STEPS, Key

KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MOTIF_N, CONTOUR_N = 3, 8


def pitch_class_entropy(notes: list[Note]) -> float | None:
    if not notes:
        return None
    counts = Counter(n.pitch % 12 for n in notes)
    total = len(notes)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def scale_consistency(notes: list[Note]) -> float | None:
    if not notes:
        return None
    counts = Counter(n.pitch % 12 for n in notes)
    major = MODE_STEPS["major"]  # natural minor scales are the same sets as their relative majors
    best = max(sum(counts[(root + s) % 12] for s in major) for root in range(12))
    return best / len(notes)


def _pearson(xs: list[float], ys: tuple[float, ...]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    vy = math.sqrt(sum((y - my) ** 2 for y in ys))
    return cov / (vx * vy) if vx and vy else 0.0


def estimate_key(notes: list[Note]) -> tuple[Key, float] | None:
    """The best Krumhansl-Schmuckler key and its correlation; ties go to the lower tonic, major."""
    histogram = [0.0] * 12
    for note in notes:
        histogram[note.pitch % 12] += note.duration
    if not notes or max(histogram) == min(histogram):
        return None
    best: tuple[float, int, str] | None = None
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            rotated = [histogram[(tonic + i) % 12] for i in range(12)]
            r = _pearson(rotated, profile)
            if best is None or r > best[0] + 1e-12:
                best = (r, tonic, mode)
    assert best is not None
    return Key(_SHARP_NAMES[best[1]], best[2]), best[0]


def in_key_ratio(notes: list[Note], key: Key | None) -> float | None:
    if not notes or key is None:
        return None
    scale = key.scale
    return sum(n.pitch % 12 in scale for n in notes) / len(notes)


def _intervals(line: list[Note]) -> list[int]:
    return [b.pitch - a.pitch for a, b in zip(line, line[1:], strict=False)]


def melody_step_ratio(line: list[Note]) -> float | None:
    moves = [abs(i) for i in _intervals(line) if i]
    return sum(m <= 2 for m in moves) / len(moves) if moves else None


def melody_range(line: list[Note]) -> int | None:
    return max(n.pitch for n in line) - min(n.pitch for n in line) if len(line) >= 2 else None


def repeated_ngram_rate(tokens: list[int], n: int) -> float | None:
    """Share of n-gram positions whose n-gram occurs at least twice in the sequence."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if len(grams) < 2:
        return None
    counts = Counter(grams)
    return sum(counts[g] > 1 for g in grams) / len(grams)


def motif_reuse(line: list[Note]) -> float | None:
    return repeated_ngram_rate(_intervals(line), MOTIF_N)


def contour_repetition(line: list[Note]) -> float | None:
    contour = [(i > 0) - (i < 0) for i in _intervals(line)]
    return repeated_ngram_rate(contour, CONTOUR_N)
