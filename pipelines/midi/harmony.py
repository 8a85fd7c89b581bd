"""Chords and bass: a progression per style, voice-led voicings, comping and bass lines."""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipelines.midi.grid import Grid, note
from pipelines.midi.styles import Style
from pipelines.midi.theory import Scale, nearest_with_pc


@dataclass(frozen=True)
class ChordSpan:
    tick: int
    duration: int
    degree: int
    pcs: tuple[int, ...]
    symbol: str


def progression(scale: Scale, style: Style, grid: Grid, rng: random.Random) -> list[ChordSpan]:
    """The chord for every span of the piece, cycling a seeded choice of the style's table."""
    degrees = rng.choice(style.progressions)
    span = max(1, int(round(grid.bar_ticks * style.bars_per_chord)))
    if grid.bar_ticks % span and span < grid.bar_ticks:
        span = grid.bar_ticks  # odd meters: one chord a bar rather than a split beat
    spans, tick, index = [], 0, 0
    while tick < grid.total_ticks:
        degree = degrees[index % len(degrees)]
        # The last chord of the piece resolves home.
        if tick + span >= grid.total_ticks and len(degrees) > 1:
            degree = 1
        duration = min(span, grid.total_ticks - tick)
        spans.append(ChordSpan(tick, duration, degree,
                               tuple(scale.chord_pcs(degree, style.chord_size)),
                               scale.chord_symbol(degree, style.chord_size)))
        tick += duration
        index += 1
    return spans


def voice_lead(spans: list[ChordSpan], low: int = 52, high: int = 76) -> list[list[int]]:
    """A voicing per chord, each the inversion and octave closest to the one before."""
    voicings: list[list[int]] = []
    previous: list[int] | None = None
    for span in spans:
        candidates = []
        for rotation in range(len(span.pcs)):
            pcs = span.pcs[rotation:] + span.pcs[:rotation]
            for base in range(low, low + 12):
                if base % 12 != pcs[0]:
                    continue
                voicing = [base]
                for pc in pcs[1:]:
                    nxt = voicing[-1] + 1
                    while nxt % 12 != pc:
                        nxt += 1
                    voicing.append(nxt)
                if voicing[-1] <= high:
                    candidates.append(voicing)
        if previous is None:
            center = (low + high) // 2
            chosen = min(candidates, key=lambda v: abs(sum(v) / len(v) - center))
        else:
            before = previous
            chosen = min(candidates, key=lambda v: _movement(before, v))
        voicings.append(chosen)
        previous = chosen
    return voicings


def _movement(a: list[int], b: list[int]) -> int:
    return sum(min(abs(x - y) for y in b) for x in a) + sum(min(abs(x - y) for x in a) for y in b)


def chord_notes(spans: list[ChordSpan], voicings: list[list[int]], style: Style, grid: Grid,
                energy_at: list[float], rng: random.Random) -> list[dict[str, int]]:
    out: list[dict[str, int]] = []
    step = grid.step_ticks
    for span, voicing in zip(spans, voicings, strict=True):
        energy = energy_at[min(len(energy_at) - 1, span.tick // grid.bar_ticks)]
        base = int(48 + 40 * energy)
        for onset, length, accent in _comp_hits(style.comp, span, grid, rng):
            notes = voicing
            if style.comp == "arp":
                notes = [voicing[(onset // (2 * step)) % len(voicing)]]
            for pitch in notes:
                out.append(note(span.tick + onset, length, pitch, base + accent))
    return out


def _comp_hits(comp: str, span: ChordSpan, grid: Grid,
               rng: random.Random) -> list[tuple[int, int, int]]:
    """(offset, length, accent) of each chord hit inside one chord span."""
    step, beat = grid.step_ticks, grid.step_ticks * grid.beat_steps
    end = span.duration
    if comp == "pad":
        return [(0, end - step // 2, 0)]
    if comp == "stab":
        return [(t, step * 2 - 20, 6) for t in range(beat // 2, end, beat)]
    if comp == "arp":
        return [(t, step * 2, 4 if t % beat == 0 else 0) for t in range(0, end, step * 2)]
    if comp == "strum":
        return [(t, beat - 30, 8 if t == 0 else 0) for t in range(0, end, beat)]
    if comp == "pulse":
        return [(t, step * 2 - 30, 6 if t % beat == 0 else -4) for t in range(0, end, step * 2)]
    hits = [(0, beat - 40, 6)]  # jazz and lofi comping: downbeat plus seeded anticipations
    for t in range(beat + beat // 2, end, beat):
        if rng.random() < 0.55:
            hits.append((t, step * 2 - 20, 0))
    return hits


def bass_notes(spans: list[ChordSpan], scale: Scale, style: Style, grid: Grid,
               energy_at: list[float], rng: random.Random) -> list[dict[str, int]]:
    out: list[dict[str, int]] = []
    beat = grid.step_ticks * grid.beat_steps
    for index, span in enumerate(spans):
        root = nearest_with_pc(40, [span.pcs[0]])
        fifth = nearest_with_pc(root + 7, [span.pcs[2]])
        nxt = spans[index + 1] if index + 1 < len(spans) else None
        energy = energy_at[min(len(energy_at) - 1, span.tick // grid.bar_ticks)]
        velocity = int(60 + 45 * energy)
        for offset, length, kind in _bass_rhythm(style.bass, span.duration, beat, grid):
            pitch = {"root": root, "fifth": fifth, "octave": root + 12}.get(kind, root)
            if kind == "walk":
                pitch = nearest_with_pc(root + rng.choice((2, 3, 4, 5, 7)), scale.pitch_classes)
            if kind == "approach" and nxt is not None:
                target = nearest_with_pc(root, [nxt.pcs[0]])
                pitch = target - 1 if style.bass == "walk" else scale.step(target, -1)
            elif kind == "approach":
                pitch = fifth
            out.append(note(span.tick + offset, length, pitch, velocity + (6 if offset == 0 else 0)))
    return out


def _bass_rhythm(kind: str, duration: int, beat: int, grid: Grid) -> list[tuple[int, int, str]]:
    eighth = grid.step_ticks * 2
    if kind == "whole":
        return [(0, duration - 30, "root")]
    if kind == "offbeat":
        return [(t + beat // 2, eighth - 30, "octave" if (t // beat) % 2 else "root")
                for t in range(0, duration, beat)]
    if kind == "eighths":
        hits = [(t, eighth - 20, "root") for t in range(0, duration - eighth, eighth)]
        return hits + [(duration - eighth, eighth - 20, "approach")]
    if kind == "walk":
        beats = list(range(0, duration, beat))
        return [(t, beat - 20, "root" if i == 0 else "approach" if i == len(beats) - 1
                 else "fifth" if i == len(beats) // 2 else "walk") for i, t in enumerate(beats)]
    if kind == "boom":  # one, the and-of-two, a pickup into the next chord
        hits = [(0, beat + beat // 2 - 30, "root")]
        if duration >= 2 * beat:
            hits.append((beat + beat // 2, beat // 2, "root"))
        if duration >= 3 * beat:
            hits.append((duration - beat // 2, beat // 2 - 20, "approach"))
        return hits
    half = max(beat, (duration // 2 // beat) * beat)  # "half": root, then fifth
    return [(0, half - 30, "root")] + ([(half, duration - half - 30, "fifth")]
                                       if duration > half else [])
