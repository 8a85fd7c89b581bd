"""Humanized timing and velocity: swing, 1/f drift rather than white noise, velocity spread."""

from __future__ import annotations

import random

from pipelines.midi.grid import PPQ, Grid


class PinkNoise:
    """Voss-McCartney pink noise: rows updated at halving rates, so slow drift dominates."""

    def __init__(self, rng: random.Random, rows: int = 5) -> None:
        self.rng = rng
        self.rows = [rng.uniform(-1, 1) for _ in range(rows)]
        self.count = 0

    def next(self) -> float:
        self.count += 1
        changed = (self.count & -self.count).bit_length() - 1
        if changed < len(self.rows):
            self.rows[changed] = self.rng.uniform(-1, 1)
        return (sum(self.rows) + self.rng.uniform(-0.5, 0.5)) / (len(self.rows) + 0.5)


def humanize(notes: list[dict[str, int]], grid: Grid, tempo_bpm: float, swing: float,
             swing_unit: int, humanize_ms: float, tightness: float,
             rng: random.Random) -> list[dict[str, int]]:
    """Swing off-beat notes, drift onsets by pink noise (ms scaled by tempo), spread velocity."""
    ticks_per_ms = PPQ * tempo_bpm / 60000.0
    unit = grid.step_ticks * (2 if swing_unit == 8 else 1)
    drift = PinkNoise(rng)
    out = []
    for item in sorted(notes, key=lambda n: (n["tick"], n["pitch"])):
        tick = item["tick"]
        if swing and tick % unit == 0 and (tick // unit) % 2 == 1:
            tick += int(round(swing * unit))
        tick += int(round(drift.next() * humanize_ms * ticks_per_ms * tightness))
        velocity = item["velocity"] + int(round(rng.gauss(0, 4 * tightness)))
        out.append({**item, "tick": max(0, tick), "velocity": max(1, min(127, velocity))})
    return out
