"""Feel: swing on offbeats, 1/f timing drift instead of white jitter, and velocity spread."""

from __future__ import annotations

import math
import random

from pipelines.midi.drums import CLAP, CRASH, KICK, RIM, SNARE
from pipelines.midi.form import Plan
from pipelines.midi.meter import EIGHTH, PPQ, SIXTEENTH
from pipelines.midi.score import Note

DRIFT_STEP = SIXTEENTH
# How loosely each part or drum follows the drift: a kick anchors the time, hats float.
ROLE_LOOSENESS = {"melody": 1.0, "chords": 0.7, "bass": 0.5, "drums": 1.0}
DRUM_LOOSENESS = {KICK: 0.3, SNARE: 0.6, CLAP: 0.6, RIM: 0.6, CRASH: 0.5}
LAID_BACK = frozenset({SNARE, CLAP, RIM})


def swing_notes(notes: list[Note], swing: float, unit: int) -> list[Note]:
    """Delay notes on the offbeat of each `unit` pair by swing*unit, keeping their ends."""
    if swing <= 0:
        return notes
    delay = round(swing * unit)
    out = []
    for note in notes:
        if note.tick % (2 * unit) == unit:
            note = Note(note.tick + delay, max(1, note.end - note.tick - delay), note.pitch,
                        note.velocity)
        out.append(note)
    return out


def voss_drift(rng: random.Random, length: int, rows: int = 8) -> list[float]:
    """Voss-McCartney pink noise in [-1, 1] with a standard deviation of about 0.5: row k changes
    every 2**k steps (up to 8 bars of sixteenths), so slow wander dominates and neighbouring
    notes move together, as a player's time does."""
    values = [rng.uniform(-1, 1) for _ in range(rows)]
    scale = 0.5 / math.sqrt(rows / 3)  # a sum of `rows` uniforms has variance rows / 3
    out = []
    for step in range(length):
        for row in range(rows):
            if step % (1 << row) == 0:
                values[row] = rng.uniform(-1, 1)
        out.append(max(-1.0, min(1.0, scale * sum(values))))
    return out


def humanize(notes: list[Note], plan: Plan, role: str, rng: random.Random) -> list[Note]:
    """Swing, drift and velocity spread for one track; ticks stay inside the song.

    humanize_ms is the furthest a loose part (melody, hats) strays from its swung position.
    """
    unit = plan.style.swing_unit
    if plan.meter.compound and unit == EIGHTH:
        unit = SIXTEENTH  # eighths are the pulse in x/8: only sixteenths may swing
    notes = swing_notes(notes, plan.swing, unit)
    ticks_per_ms = PPQ * plan.tempo_bpm / 60000.0
    drift = voss_drift(rng, plan.total_ticks // DRIFT_STEP + 1)
    spread = 2.0 + plan.humanize_ms / 4.0
    laid_back = plan.style.laid_back_ms * ticks_per_ms
    out = []
    for note in notes:
        loose = ROLE_LOOSENESS[role]
        if role == "drums":
            loose = DRUM_LOOSENESS.get(note.pitch, 1.0)
        shift = drift[note.tick // DRIFT_STEP] * plan.humanize_ms * ticks_per_ms * loose
        if role == "melody" or (role == "drums" and note.pitch in LAID_BACK):
            shift += laid_back
        tick = max(0, min(plan.total_ticks - 1, note.tick + round(shift)))
        end = min(plan.total_ticks, max(tick + 1, note.end + round(shift)))
        velocity = round(note.velocity + rng.gauss(0.0, spread))
        out.append(Note(tick, end - tick, note.pitch, max(1, min(127, velocity))))
    return out
