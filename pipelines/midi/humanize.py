"""Feel: swing on offbeats, a bounded wobble around the (swung) grid, per-instrument leans, velocity.

Timing wobbles around the grid rather than drifting from it: the wobble is pink (neighbouring
notes move together, as a player's time does, and it wanders slowly) but it never
exceeds humanize_ms times the part's looseness. Each drum has a fixed lean on top: the kick is on
the grid, the snare a little lazy in laid-back styles, so the groove sits the same way each bar.
"""

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
MAX_DRUM_LEAN_MS = 6.0  # a lazy snare; more and it reads as late, not relaxed
WOBBLE_ROWS = 8  # pink over 2**8 sixteenths (16 bars), but never past humanize_ms: it cannot drift off


def swing_notes(notes: list[Note], swing: float, unit: int) -> list[Note]:
    """Delay notes on the offbeat of each `unit` pair by swing*unit, keeping their ends."""
    if swing <= 0:
        return notes
    out = []
    for note in notes:
        tick = swung_tick(note.tick, swing, unit)
        out.append(Note(tick, max(1, note.end - tick), note.pitch, note.velocity))
    return out


def swing_unit(plan: Plan) -> int:
    """The subdivision that swings: the style's, but only sixteenths in x/8, where eighths are
    the pulse."""
    unit = plan.style.swing_unit
    return SIXTEENTH if plan.meter.compound and unit == EIGHTH else unit


def swung_tick(tick: int, swing: float, unit: int) -> int:
    """Where swing puts an onset: the offbeat of each unit pair moves swing x unit later."""
    return tick + round(swing * unit) if swing > 0 and tick % (2 * unit) == unit else tick


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
    """Swing, a bounded wobble, leans and velocity spread for one track; ticks stay inside the song.

    humanize_ms is the furthest a loose part (melody, hats) strays from its swung position;
    a kick strays 0.3 of that. Swing delays the offbeat of each swing-unit pair by swing x unit:
    1/3 puts it on the triplet, smaller values part of the way there.
    """
    notes = swing_notes(notes, plan.swing, swing_unit(plan))
    ticks_per_ms = PPQ * plan.tempo_bpm / 60000.0
    drift = voss_drift(rng, plan.total_ticks // DRIFT_STEP + 1, rows=WOBBLE_ROWS)
    spread = 2.0 + plan.humanize_ms / 4.0
    laid_back = plan.style.laid_back_ms * ticks_per_ms
    drum_lean = min(plan.style.laid_back_ms, MAX_DRUM_LEAN_MS) * ticks_per_ms
    out = []
    for note in notes:
        loose = ROLE_LOOSENESS[role]
        if role == "drums":
            loose = DRUM_LOOSENESS.get(note.pitch, 1.0)
        shift = drift[note.tick // DRIFT_STEP] * plan.humanize_ms * ticks_per_ms * loose
        if role == "melody":
            shift += laid_back
        elif role == "drums" and note.pitch in LAID_BACK:
            shift += drum_lean
        tick = max(0, min(plan.total_ticks - 1, note.tick + round(shift)))
        end = min(plan.total_ticks, max(tick + 1, note.end + round(shift)))
        velocity = round(note.velocity + rng.gauss(0.0, spread))
        out.append(Note(tick, end - tick, note.pitch, max(1, min(127, velocity))))
    return out
