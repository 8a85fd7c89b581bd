"""The baselines a generator is measured against, in the same run.

The random-note baseline: the same tracks, tempo, meter, key and note counts as a piece, with
every note drawn uniformly: onset anywhere in the piece (to the tick), duration from a 64th to
two beats, pitch anywhere in the part's register, velocity anywhere in 1..127. The random-walk
baseline: C major random walks on the sixteenth grid (random_walk_like)."""

from __future__ import annotations

import copy
import random
from typing import Any

from pipelines.midi.score import Note, clean_notes

# Registers a player of each part could reach; drums draw from the General MIDI kit (35..81).
REGISTERS = {"melody": (48, 84), "chords": (45, 79), "bass": (28, 55), "drums": (35, 81),
             "other": (36, 96)}
C_MAJOR = frozenset({0, 2, 4, 5, 7, 9, 11})


def random_notes(count: int, role: str, end_tick: int, ppq: int, rng: random.Random) -> list[Note]:
    low, high = REGISTERS.get(role, REGISTERS["other"])
    notes = [Note(rng.randrange(end_tick), rng.randint(max(1, ppq // 16), 2 * ppq),
                  rng.randint(low, high), rng.randint(1, 127)) for _ in range(count)]
    return clean_notes(notes, end_tick)


def random_like(music: dict[str, Any], seed: int) -> dict[str, Any]:
    """A copy of `music` whose notes are replaced by as many uniformly random ones per track.
    Chord symbols are dropped: random notes have no harmony plan."""
    rng = random.Random(seed)
    out = copy.deepcopy(music)
    end = max((n["tick"] + n["duration"] for t in music["tracks"] for n in t["notes"]), default=1)
    for track in out["tracks"]:
        notes = random_notes(len(track["notes"]), track["role"], end, music["ppq"], rng)
        track["notes"] = [n.as_dict() for n in notes]
    out["chords"] = []
    return out


def _walk(count: int, role: str, end_tick: int, ppq: int, rng: random.Random) -> list[Note]:
    """`count` notes on the sixteenth grid, each a step or two along C major from the last."""
    low, high = REGISTERS.get(role, REGISTERS["other"])
    scale = [p for p in range(low, high + 1) if p % 12 in C_MAJOR]
    index, notes = rng.randrange(len(scale)), []
    sixteenth = ppq // 4
    for _ in range(count):
        index = min(len(scale) - 1, max(0, index + rng.choice((-2, -1, 1, 2))))
        tick = rng.randrange(max(1, end_tick // sixteenth)) * sixteenth
        notes.append(Note(tick, sixteenth * rng.randint(1, 8), scale[index], rng.randint(50, 100)))
    return clean_notes(notes, end_tick)


def random_walk_like(music: dict[str, Any], seed: int) -> dict[str, Any]:
    """The stronger baseline: a copy of `music` whose tracks are random walks in C major on the
    sixteenth grid (drums: random kit pieces on the grid), declared in C major. It passes the
    surface metrics (in key, stepwise, on the grid), so a generator must beat it on structure."""
    rng = random.Random(seed)
    out = copy.deepcopy(music)
    end = max((n["tick"] + n["duration"] for t in music["tracks"] for n in t["notes"]), default=1)
    for track in out["tracks"]:
        count = len(track["notes"])
        if track["role"] == "drums":
            notes = random_notes(count, "drums", end, music["ppq"], rng)
            step = music["ppq"] // 4
            notes = clean_notes([n._replace(tick=n.tick // step * step) for n in notes], end)
        else:
            notes = _walk(count, track["role"], end, music["ppq"], rng)
        track["notes"] = [n.as_dict() for n in notes]
    out.update(key="C", mode="major", chords=[])
    return out
