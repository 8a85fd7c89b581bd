"""The melody: seeded motifs varied across 4-bar phrases that end in half and full cadences."""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipelines.midi.grid import Grid, note
from pipelines.midi.harmony import ChordSpan
from pipelines.midi.theory import Scale, nearest_with_pc

STEP_WEIGHTS = ((-1, 30), (1, 30), (-2, 12), (2, 12), (0, 6), (3, 4), (-3, 4), (4, 1), (-4, 1))


@dataclass(frozen=True)
class Motif:
    onsets: tuple[int, ...]  # eighth-note slots within a bar
    steps: tuple[int, ...]  # scale steps between consecutive notes


def make_motif(slots: int, beat_slots: int, density: float, rng: random.Random) -> Motif:
    onsets = [0 if rng.random() < 0.7 else 1]
    for slot in range(onsets[0] + 1, slots - 1):
        chance = density * (1.3 if slot % beat_slots == 0 else 0.75)
        if rng.random() < chance:
            onsets.append(slot)
    if len(onsets) < 2:
        onsets.append(min(slots - 2, onsets[0] + beat_slots))
    steps, last = [], 0
    for _ in onsets[1:]:
        if abs(last) >= 3:  # a leap resolves by step the other way
            step = -1 if last > 0 else 1
        else:
            step = rng.choices([s for s, _ in STEP_WEIGHTS], [w for _, w in STEP_WEIGHTS])[0]
        steps.append(step)
        last = step
    return Motif(tuple(onsets), tuple(steps))


def vary(motif: Motif, how: str, slots: int) -> Motif:
    if how == "invert":
        return Motif(motif.onsets, tuple(-s for s in motif.steps))
    if how == "displace":
        shifted = tuple(o + 1 for o in motif.onsets if o + 1 < slots - 1)
        return Motif(shifted, motif.steps[: max(0, len(shifted) - 1)])
    if how == "retrograde":
        return Motif(motif.onsets, tuple(reversed([-s for s in motif.steps])))
    return motif


class MelodyWriter:
    """Writes bar after bar, keeping the line singable: in scale, near chord tones, in range."""

    def __init__(self, scale: Scale, grid: Grid, spans: list[ChordSpan], rng: random.Random) -> None:
        self.scale, self.grid, self.spans, self.rng = scale, grid, spans, rng
        self.home = nearest_with_pc(67, [scale.tonic])
        self.low, self.high = self.home - 7, self.home + 10
        self.center = (self.low + self.high) // 2
        self.pitch = self.home
        self.notes: list[dict[str, int]] = []

    def chord_at(self, tick: int) -> ChordSpan:
        for span in self.spans:
            if span.tick <= tick < span.tick + span.duration:
                return span
        return self.spans[-1]

    def _fit(self, pitch: int, tick: int, strong: bool, direction: int) -> int:
        """Keep the line in range; on strong beats walk on, in its direction, to a chord tone."""
        if pitch > self.high or pitch < self.low:
            direction = -direction  # fold back into range by turning the line around
            pitch = self.scale.step(self.pitch, direction)
        pitch = self.scale.snap(pitch)
        if strong:
            chord = self.chord_at(tick).pcs
            for _ in range(3):
                if pitch % 12 in chord:
                    break
                pitch = self.scale.step(pitch, direction)
        return max(self.low - 2, min(self.high + 2, pitch))

    def bar(self, bar: int, motif: Motif, velocity: int) -> None:
        slot_ticks = self.grid.step_ticks * 2
        beat_slots = max(1, self.grid.beat_steps // 2)
        start = self.grid.tick(bar, 0)
        onsets = list(motif.onsets)
        for i, slot in enumerate(onsets):
            tick = start + slot * slot_ticks
            step = motif.steps[i - 1] if i > 0 else 0
            drift = self.pitch - self.center
            if step * drift > 0 and abs(drift) > 3 and self.rng.random() < 0.6:
                step = -step  # lean back toward the middle of the range
            direction = 1 if step > 0 else -1 if step < 0 else self.rng.choice((-1, 1))
            candidate = self.scale.step(self.pitch, step) if step else self.pitch
            strong = slot % beat_slots == 0
            self.pitch = self._fit(candidate, tick, strong or i == 0, direction)
            end_slot = onsets[i + 1] if i + 1 < len(onsets) else self.grid.steps_per_bar // 2
            length = (end_slot - slot) * slot_ticks - 30
            self.notes.append(note(tick, length, self.pitch, velocity + (8 if strong else 0)))

    def cadence(self, bar: int, degree: int, velocity: int) -> None:
        """Step toward a goal degree and hold it: 5 or 2 for a half cadence, 1 to close."""
        start = self.grid.tick(bar, 0)
        beat = self.grid.step_ticks * self.grid.beat_steps
        goal = nearest_with_pc(self.pitch, [self.scale.degree_pc(degree)])
        goal = max(min(goal, self.high), self.low)
        goal = nearest_with_pc(goal, [self.scale.degree_pc(degree)])
        approach = self.scale.step(goal, 1 if self.pitch > goal else -1)
        self.notes.append(note(start, beat - 30, approach, velocity + 4))
        hold = max(beat, self.grid.bar_ticks - 2 * beat)
        self.notes.append(note(start + beat, hold, goal, velocity + 6))
        self.pitch = goal


def melody_notes(spans: list[ChordSpan], scale: Scale, grid: Grid, energy_at: list[float],
                 density: float, rng: random.Random) -> list[dict[str, int]]:
    slots = grid.steps_per_bar // 2
    beat_slots = max(1, grid.beat_steps // 2)
    main = make_motif(slots, beat_slots, density, rng)
    answer = make_motif(slots, beat_slots, density, rng)
    writer = MelodyWriter(scale, grid, spans, rng)
    for bar in range(grid.bars):
        phrase, position = divmod(bar, 4)
        energy = energy_at[bar]
        velocity = int(58 + 42 * energy + (4 if position in (1, 2) else 0))
        if position == 3 or bar == grid.bars - 1:
            closing = phrase % 2 == 1 or bar == grid.bars - 1
            writer.cadence(bar, 1 if closing else rng.choice((5, 2)), velocity)
            writer.pitch = writer.home if closing else writer.pitch
            continue
        source = main if phrase % 4 != 2 else answer
        how = ("same", "same", rng.choice(("invert", "displace", "retrograde")))[position]
        if energy < 0.25 and position == 1:
            continue  # quiet passages breathe: the motif answers itself after a bar's rest
        writer.bar(bar, vary(source, how, slots), velocity)
    return writer.notes
