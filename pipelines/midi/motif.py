"""Melodic motifs: a seeded rhythm and contour, and the variations a phrase makes of them."""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipelines.midi.form import Plan

LOW_DEGREE, HIGH_DEGREE = -2, 7  # scale degrees around the tonic: a sixth below to the octave


@dataclass(frozen=True)
class Motif:
    """Onsets and lengths inside a span, and the scale steps between successive notes."""

    rhythm: tuple[tuple[int, int], ...]
    steps: tuple[int, ...]
    span: int


def _rhythm(plan: Plan, span: int, rng: random.Random) -> list[tuple[int, int]]:
    style, meter = plan.style, plan.meter
    grid = style.melody_grid
    density = min(0.9, max(0.15, style.melody_density * plan.mood.density))
    onsets = []
    for position in range(0, span, grid):
        strength = meter.strength(position % meter.ticks_per_bar)
        chance = 1.0 - 0.6 * style.pickup if position == 0 else density * (0.45 + strength)
        if rng.random() < chance:
            onsets.append(position)
    last_beat = span - meter.beats[-1][1]
    if len(onsets) > 3 and rng.random() < 0.5:
        onsets = [t for t in onsets if t < last_beat] or onsets  # breathe before the next bar
    if len(onsets) < 2:
        onsets = sorted({*onsets, *[s for s, _ in meter.beats][:2]})[:2]
        if len(onsets) < 2:
            onsets = [0, span // 2]
    rhythm = []
    for index, onset in enumerate(onsets):
        stop = onsets[index + 1] if index + 1 < len(onsets) else min(span, onset + 2 * grid +
                                                                     meter.beats[0][1])
        rhythm.append((onset, max(grid // 2, stop - onset - 10)))
    return rhythm


def _steps(count: int, rng: random.Random) -> list[int]:
    """Mostly steps, some thirds, rare leaps that are always answered by a step back."""
    steps: list[int] = []
    for index in range(count):
        previous = steps[-1] if steps else 0
        if abs(previous) >= 3:
            steps.append(-1 if previous > 0 else 1)
            continue
        rising = rng.random() < (0.62 if index < count / 2 else 0.38)  # an arch
        roll = rng.random()
        size = 0 if roll < 0.08 else 1 if roll < 0.75 else 2 if roll < 0.92 else rng.choice((3, 4))
        steps.append(size if rising else -size)
    return steps


def make_motif(plan: Plan, rng: random.Random) -> Motif:
    """A motif spanning the style's motif length (one bar, two for slow styles)."""
    span = plan.style.motif_bars * plan.meter.ticks_per_bar
    rhythm = _rhythm(plan, span, rng)
    return Motif(tuple(rhythm), tuple(_steps(len(rhythm) - 1, rng)), span)


# How often a phrase makes each variation of its motif: mostly it comes back as it was or
# moved in pitch (a sequence), so its rhythm is heard again; now and then changed in time.
VARIATIONS = ("repeat", "repeat", "sequence", "sequence", "sequence", "invert", "displace", "augment")


def vary(motif: Motif, variation: str, grid: int) -> Motif:
    """Inversion flips the contour; displacement moves the rhythm one grid step later;
    augmentation doubles the durations of the motif's first half to fill the span."""
    if variation == "augment":
        longer = [(2 * t, 2 * d) for t, d in motif.rhythm if 2 * t < motif.span]
        if len(longer) >= 2:
            longer = [(t, min(d, motif.span - t)) for t, d in longer]
            return Motif(tuple(longer), motif.steps[:len(longer) - 1], motif.span)
    if variation == "invert":
        return Motif(motif.rhythm, tuple(-s for s in motif.steps), motif.span)
    if variation == "displace":
        moved = [(t + grid, d) for t, d in motif.rhythm if t + grid < motif.span]
        if len(moved) >= 2:
            moved = [(t, min(d, motif.span - t)) for t, d in moved]
            return Motif(tuple(moved), motif.steps[:len(moved) - 1], motif.span)
    return motif


def walk_degrees(start: int, steps: tuple[int, ...]) -> list[int]:
    """Degrees from a start and steps, turning back at the edges of the singable range."""
    degrees = [start]
    for step in steps:
        nxt = degrees[-1] + step
        if not LOW_DEGREE <= nxt <= HIGH_DEGREE:
            nxt = degrees[-1] - step
        degrees.append(max(LOW_DEGREE, min(HIGH_DEGREE, nxt)))
    return degrees
