"""Rhythm, feel and drum metrics of the report card, each with the source of its definition.

Onsets are read on a sixteenth grid laid over each bar of the time-signature map.

- groove_consistency: 1 - mean Hamming distance between the onset vectors of neighbouring bars,
  over the grid size; as muspy.groove_consistency, after Wu & Yang, ISMIR 2020.
- empty_beat_rate: share of felt beats, from the first note to the last, in which no note
  sounds (Dong et al., Pypianoroll, ISMIR LBD 2018; muspy.empty_beat_rate).
- syncopation: per note, the metric weight gained when the note sounds on into a stronger grid
  position than its own onset (a Longuet-Higgins & Lee 1984 syncopation, as normalised per note
  by Fitch & Rosenfeld 2007), with the weights of Meter.strength.
- swing_ratio: long-to-short ratio of swung eighth pairs, p / (1 - p) for the median offbeat
  position p in beats holding a single offbeat onset (Friberg & Sundstroem, Music Perception
  19(3), 2002).
- onset_jitter_ms: median absolute deviation of onsets from the median onset of their part at
  the same grid position, in ms: systematic feel (swing, laid-back) is taken out, what is left
  is humanization (cf. Rasch 1979; Repp 1999 on expressive timing).
- timing_drift_corr: lag-1 autocorrelation of those deviations in time order: white noise
  gives about 0, the long-range correlated drift of human players clearly more (Hennig et al.,
  "The nature and perception of fluctuations in human musical rhythms", PLoS ONE 2011).
- velocity_spread: standard deviation of note velocities within a part.
- drum_hit_density: drum onsets per quarter note.
- drum_template_overlap: share of 4/4 drum bars whose kick, snare and cymbal steps equal one of
  the generator's own pattern templates (memorization).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from functools import cache

from pipelines.midi.meter import SIXTEENTH
from pipelines.midi.piece import Piece
from pipelines.midi.score import Note

Slot = tuple[int, int]  # bar index, sixteenth inside the bar


def slot_of(piece: Piece, tick: int) -> tuple[Slot, int]:
    """The nearest grid slot of a tick, and the tick of that slot."""
    index, bar = piece.bar_of(tick)
    slot = round((tick - bar.start) / bar.sixteenth)
    slots = max(1, round(bar.length / bar.sixteenth))
    if slot >= slots and index + 1 < len(piece.bars):
        return (index + 1, 0), piece.bars[index + 1].start
    slot = min(slot, slots - 1)
    return (index, slot), bar.start + round(slot * bar.sixteenth)


def _strength(piece: Piece, slot: Slot) -> float:
    return piece.bars[slot[0]].meter.strength(slot[1] * SIXTEENTH)


def groove_consistency(piece: Piece, notes: list[Note]) -> float | None:
    patterns: dict[int, set[int]] = {}
    for note in notes:
        (bar, slot), _ = slot_of(piece, note.tick)
        patterns.setdefault(bar, set()).add(slot)
    if not patterns:
        return None
    distances = []
    for bar in range(min(patterns), max(patterns)):
        here, there = piece.bars[bar], piece.bars[bar + 1]
        if here.length != there.length:
            continue  # muspy's definition needs one meter; compare like with like
        slots = max(1, round(here.length / here.sixteenth))
        distances.append(len(patterns.get(bar, set()) ^ patterns.get(bar + 1, set())) / slots)
    return 1 - statistics.fmean(distances) if distances else None


def syncopation(piece: Piece, line: list[Note]) -> float | None:
    if len(line) < 2:
        return None
    grid = [(bar, s) for bar, b in enumerate(piece.bars) for s in range(round(b.length / b.sixteenth))]
    first_slot = [0]
    for b in piece.bars:
        first_slot.append(first_slot[-1] + round(b.length / b.sixteenth))

    def flat(tick: int) -> int:
        bar, slot = slot_of(piece, tick)[0]
        return first_slot[bar] + slot

    onsets = [flat(n.tick) for n in line]
    total = 0.0
    for index, note in enumerate(line):
        start = onsets[index]
        stop = flat(note.end) if note.end < piece.end else len(grid)
        if index + 1 < len(line):
            stop = min(stop, onsets[index + 1])
        own = _strength(piece, grid[start])
        inside = [_strength(piece, grid[k]) for k in range(start + 1, min(stop, len(grid)))]
        total += max(0.0, max(inside, default=0.0) - own)
    return total / len(line)


def _swing_samples(piece: Piece, notes: list[Note]) -> list[float]:
    by_beat: dict[int, list[float]] = {}
    for tick in sorted({n.tick for n in notes}):
        if piece.bar_of(tick)[1].meter.compound:
            continue  # x/8 pulses in eighths: there are no eighth pairs to swing
        by_beat.setdefault(tick // piece.ppq, []).append(tick % piece.ppq / piece.ppq)
    samples = []
    for fractions in by_beat.values():
        inner = [f for f in fractions if 0.15 <= f <= 0.9]
        if len(inner) == 1 and 0.4 <= inner[0] <= 0.8:
            samples.append(inner[0])
    return samples


def swing_ratio(piece: Piece, parts: Iterable[list[Note]]) -> float | None:
    samples = [s for notes in parts for s in _swing_samples(piece, notes)]
    if len(samples) < 8:
        return None
    p = statistics.median(samples)
    return p / (1 - p)


def _deviations(piece: Piece, notes: list[Note]) -> list[float]:
    """Per grid slot the earliest onset (one per chord), minus its grid position's median, in ms."""
    first: dict[Slot, tuple[int, int]] = {}
    for note in notes:
        slot, grid_tick = slot_of(piece, note.tick)
        if slot not in first or note.tick < first[slot][0]:
            first[slot] = (note.tick, note.tick - grid_tick)
    by_position: dict[tuple[int, int], list[int]] = {}
    for (bar, step), (_, offset) in first.items():
        by_position.setdefault((piece.bars[bar].length, step), []).append(offset)
    medians = {k: statistics.median(v) for k, v in by_position.items()}
    return [(offset - medians[(piece.bars[bar].length, step)]) * piece.ms_per_tick(tick)
            for (bar, step), (tick, offset) in sorted(first.items())]


def onset_jitter_ms(piece: Piece, parts: Iterable[list[Note]]) -> float | None:
    deviations = [abs(d) for notes in parts for d in _deviations(piece, notes)]
    return statistics.median(deviations) if deviations else None


def _lag1(values: list[float]) -> float | None:
    if len(values) < 16 or statistics.pvariance(values) < 1e-9:
        return None
    mean = statistics.fmean(values)
    num = sum((a - mean) * (b - mean) for a, b in zip(values, values[1:], strict=False))
    return num / sum((v - mean) ** 2 for v in values)


def timing_drift_corr(piece: Piece, parts: Iterable[list[Note]]) -> float | None:
    weighted = total = 0.0
    for notes in parts:
        deviations = _deviations(piece, notes)
        corr = _lag1(deviations)
        if corr is not None:
            weighted += corr * len(deviations)
            total += len(deviations)
    return weighted / total if total else None


def velocity_spread(notes: list[Note]) -> float | None:
    return statistics.pstdev([n.velocity for n in notes]) if len(notes) >= 2 else None


def empty_beat_rate(piece: Piece, notes: list[Note]) -> float | None:
    if not notes:
        return None
    first, last = min(n.tick for n in notes), max(n.end for n in notes)
    beats = [b for b in piece.beats() if b[1] > first and b[0] < last]  # from the first note on
    ordered, index, active, empty = sorted(notes), 0, list[Note](), 0
    for start, end in beats:
        while index < len(ordered) and ordered[index].tick < end:
            active.append(ordered[index])
            index += 1
        active = [n for n in active if n.end > start]
        empty += not active
    return empty / len(beats) if beats else None


def drum_hit_density(piece: Piece, drums: list[Note]) -> float | None:
    quarters = piece.end / piece.ppq
    return len({(n.tick, n.pitch) for n in drums}) / quarters if drums and quarters else None


_VOICES = {35: "k", 36: "k", 37: "s", 38: "s", 39: "s", 40: "s", 42: "c", 44: "c", 46: "c", 51: "c",
           54: "c", 70: "c"}


@cache
def _drum_templates() -> frozenset[frozenset[tuple[str, int]]]:
    from pipelines.midi.drums import LEVELS, PATTERNS_44

    found = set()
    for patterns in PATTERNS_44.values():
        for pattern in patterns:
            found.add(frozenset((_VOICES[note], step) for note, steps in pattern.items()
                                if note in _VOICES for step, mark in enumerate(steps) if mark in LEVELS))
    return frozenset(found)


def drum_template_overlap(piece: Piece, drums: list[Note]) -> float | None:
    bars: dict[int, set[tuple[str, int]]] = {}
    for note in drums:
        (bar, slot), _ = slot_of(piece, note.tick)
        meter = piece.bars[bar].meter
        if (meter.numerator, meter.denominator) == (4, 4) and note.pitch in _VOICES:
            bars.setdefault(bar, set()).add((_VOICES[note.pitch], slot))
    if not bars:
        return None
    templates = _drum_templates()
    return sum(frozenset(steps) in templates for steps in bars.values()) / len(bars)
