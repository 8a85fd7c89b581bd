"""The random-note baseline: the same tracks, tempo, meter, key and note counts as a piece, with
every note drawn uniformly: onset anywhere in the piece (to the tick), duration from a 64th to
two beats, pitch anywhere in the part's register, velocity anywhere in 1..127."""

from __future__ import annotations

import copy
import random
from typing import Any

from pipelines.midi.score import Note, clean_notes

# Registers a player of each part could reach; drums draw from the General MIDI kit (35..81).
REGISTERS = {"melody": (48, 84), "chords": (45, 79), "bass": (28, 55), "drums": (35, 81),
             "other": (36, 96)}


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
