"""Drums on channel 10: the style's groove, adapted to the meter, with fills and crashes."""

from __future__ import annotations

import random

from pipelines.midi.grid import Grid, note
from pipelines.midi.styles import CRASH, HAT, KICK, SNARE, TOM_HIGH, TOM_LOW, TOM_MID, Style

HIT_VELOCITY = {"X": 104, "x": 84, "o": 40}


def bar_pattern(style: Style, grid: Grid) -> list[tuple[int, int, str]]:
    """(step, drum, mark) hits of one bar, fitted to the time signature."""
    steps = grid.steps_per_bar
    if steps == 16 or (steps < 16 and not grid.compound):
        return [(i, drum, mark) for drum, row in style.drums for i, mark in enumerate(row[:steps])
                if mark != "."]
    return _generic_pattern(style, grid)


def _generic_pattern(style: Style, grid: Grid) -> list[tuple[int, int, str]]:
    """Odd and compound meters: kick on the first beat group, snare on the last, hats on 8ths."""
    beat = grid.beat_steps if grid.compound else 4
    groups = list(range(0, grid.steps_per_bar, beat))
    if grid.numerator in (5, 7) and grid.denominator == 8:
        groups = [0, 4, 8] if grid.numerator == 7 else [0, 6]
    drums = {d for d, _ in style.drums}
    hits = [(0, KICK, "X")]
    if len(groups) > 2:
        hits.append((groups[len(groups) // 2 - 1] + beat // 2, KICK, "x"))
    if SNARE in drums or len(drums) > 2:
        hits.append((groups[-1] if len(groups) > 1 else grid.steps_per_bar // 2, SNARE, "X"))
    hats = HAT if HAT in drums else min(drums)
    hits += [(s, hats, "x" if s % beat == 0 else "o") for s in range(0, grid.steps_per_bar, 2)]
    return hits


def drum_notes(style: Style, grid: Grid, energy_at: list[float],
               rng: random.Random) -> list[dict[str, int]]:
    if not style.drums:
        return []
    pattern = bar_pattern(style, grid)
    out: list[dict[str, int]] = []
    fill_steps = grid.beat_steps if grid.steps_per_bar >= 8 else 0
    for bar in range(grid.bars):
        energy = energy_at[bar]
        section_end = (bar + 1) % 8 == 0 or ((bar + 1) % 4 == 0 and energy > 0.7)
        fill_from = grid.steps_per_bar - fill_steps if section_end and bar > 0 else grid.steps_per_bar
        if bar % 8 == 0 and (bar > 0 or energy > 0.6) and style.comp != "pad":
            out.append(note(grid.tick(bar, 0), grid.step_ticks * 4, CRASH, 70 + 40 * energy))
        for step, drum, mark in pattern:
            if step >= fill_from and drum != KICK:
                continue
            if mark == "o" and energy < 0.3 and rng.random() < 0.5:
                continue  # quiet bars lose some ghost notes
            velocity = HIT_VELOCITY[mark] * (0.65 + 0.45 * energy)
            out.append(note(grid.tick(bar, step), grid.step_ticks - 10, drum, velocity))
        out += _fill(grid, bar, fill_from, energy, rng)
    return out


def _fill(grid: Grid, bar: int, start: int, energy: float, rng: random.Random) -> list[dict[str, int]]:
    """A run of snare and toms over the last beat of a section, getting louder."""
    toms = [SNARE, TOM_HIGH, TOM_MID, TOM_LOW]
    hits = []
    count = grid.steps_per_bar - start
    for i, step in enumerate(range(start, grid.steps_per_bar)):
        drum = toms[min(len(toms) - 1, i * len(toms) // max(1, count))]
        if rng.random() < 0.85:
            velocity = (60 + 50 * i / max(1, count)) * (0.7 + 0.4 * energy)
            hits.append(note(grid.tick(bar, step), grid.step_ticks - 10, drum, velocity))
    return hits
