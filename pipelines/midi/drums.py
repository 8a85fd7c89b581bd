"""The groove: per-genre drum patterns for any meter, fills at section ends, crashes, dynamics."""

from __future__ import annotations

import random
from typing import NamedTuple

from pipelines.midi.form import Plan, Section
from pipelines.midi.meter import EIGHTH, SIXTEENTH, Meter
from pipelines.midi.score import Note

# General MIDI drum map (channel 10).
KICK, RIM, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
TOM_FLOOR, TOM_LOW, TOM_MID, TOM_HIGH = 41, 45, 47, 50
CRASH, RIDE, TAMBOURINE, SHAKER = 49, 51, 54, 70
CYMBALS = frozenset({HAT, PEDAL_HAT, OPEN_HAT, RIDE, TAMBOURINE, SHAKER})
LEVELS = {"X": 1.0, "x": 0.75, "g": 0.35}


class Hit(NamedTuple):
    """One drum stroke inside a bar; level 0..1 before energy scaling."""

    offset: int
    note: int
    level: float


_K, _S, _H, _O, _C, _R, _P, _T, _SH, _RM = (KICK, SNARE, HAT, OPEN_HAT, CLAP, RIDE, PEDAL_HAT,
                                            TAMBOURINE, SHAKER, RIM)
# Sixteen-step bars of 4/4, by pattern family; other meters are built by _generic.
PATTERNS_44: dict[str, tuple[dict[int, str], ...]] = {
    "triphop": (
        {_K: "X......x.X......", _S: "........X......g", _H: "x.x.x.x.x.x.x.x."},
        {_K: "X..x......x.....", _S: "...g....X..g....", _H: "x.xxx.x.x.xxx.x."},
        {_K: "X.........Xx....", _S: "........X.....g.", _H: "x...x.x.x...x.x.",
         _O: "..............x."},
    ),
    "boombap": (
        {_K: "X......x..X.....", _S: "....X.......X...", _H: "x.x.x.x.x.x.x.x."},
        {_K: "X.x.......X..x..", _S: "....X..g....X...", _H: "x.x.x.x.x.x.x.xx"},
        {_K: "X.........X.x...", _S: "....X.......X.g.", _H: "x.x.x.x.x.x.x.x."},
    ),
    "four": (
        {_K: "X...X...X...X...", _C: "....X.......X...", _O: "..x...x...x...x.",
         _H: "x...x...x...x..."},
        {_K: "X...X...X...X...", _C: "....X.......X...", _O: "..x...x...x...x.",
         _H: "xg.gxg.gxg.gxg.g"},
    ),
    "backbeat": (
        {_K: "X.......X.x.....", _S: "....X.......X...", _H: "x.x.x.x.x.x.x.x."},
        {_K: "X.....x.X.......", _S: "....X.......X...", _H: "x.x.x.x.x.x.x.x."},
        {_K: "X.x.....X.x.....", _S: "....X.......X..g", _R: "x.x.x.x.x.x.x.x."},
    ),
    "pop": (
        {_K: "X.....x.X.....x.", _S: "....X.......X...", _H: "x.x.x.x.x.x.x.x."},
        {_K: "X.......X.x.....", _S: "....X.......X...", _C: "....x.......x...",
         _H: "x.xxx.xxx.xxx.xx"},
    ),
    "jazz": ({_R: "x...x.x.x...x.x.", _P: "....x.......x...", _K: "g...g...g...g..."},),
    "ballad": (
        {_K: "X.......x.......", _RM: "....x.......x...", _H: "x.x.x.x.x.x.x.x."},
        {_K: "X.....x.x.......", _S: "........X.......", _H: "x.x.x.x.x.x.x.x."},
    ),
    "folk": (
        {_K: "X.......X.......", _S: "....x.......x...", _T: "..x...x...x...x."},
        {_K: "X.....x.X.......", _S: "....x.......x...", _H: "x.x.x.x.x.x.x.x."},
    ),
    "ambient": ({_K: "X...............", _SH: "........g......."},),
}


def _from_steps(pattern: dict[int, str]) -> list[Hit]:
    return [Hit(step * SIXTEENTH, note, LEVELS[mark])
            for note, steps in sorted(pattern.items())
            for step, mark in enumerate(steps) if mark in LEVELS]


def _snare_beats(family: str, count: int) -> list[int]:
    if family in ("jazz", "ambient") or count < 2:
        return []
    if family in ("triphop", "ballad"):
        return [count // 2]  # half-time: one heavy backbeat mid-bar
    beats = list(range(1, count, 2))
    return beats + [count - 1] if count % 2 and count - 1 not in beats else beats


def _generic(meter: Meter, family: str, rng: random.Random) -> list[Hit]:
    """A pattern in the family's spirit for meters without a hand-written one."""
    starts = [start for start, _ in meter.beats]
    snare = {"four": CLAP, "ballad": RIM}.get(family, SNARE)
    hits = [Hit(0, KICK, 1.0)]
    hits += [Hit(s, KICK, 0.75) for s in starts[1:] if family == "four"]
    snares = _snare_beats(family, len(starts))
    hits += [Hit(starts[b], snare, 0.95) for b in snares]
    busy = ("triphop", "boombap", "backbeat", "pop")
    free = [t for t in range(EIGHTH, meter.ticks_per_bar, EIGHTH)
            if t not in {starts[b] for b in snares}]
    if family in busy and free and rng.random() < 0.7:
        hits.append(Hit(rng.choice(free), KICK, 0.75))
    return hits + _generic_cymbals(meter, family, snares)


def _generic_cymbals(meter: Meter, family: str, snares: list[int]) -> list[Hit]:
    starts = [start for start, _ in meter.beats]
    if family == "jazz":
        ride = [Hit(s, RIDE, 0.75) for s in starts]
        ride += [Hit(s + length - EIGHTH, RIDE, 0.6) for i, (s, length) in enumerate(meter.beats)
                 if i % 2 == 1 and length >= 2 * EIGHTH]
        return ride + [Hit(starts[b], PEDAL_HAT, 0.6) for b in range(1, len(starts), 2)]
    if family == "four":
        return [Hit(meter.offbeat(b), OPEN_HAT, 0.75) for b in range(len(starts))] + [
            Hit(s, HAT, 0.6) for s in starts]
    if family == "ambient":
        return [Hit(meter.beats[i][0], SHAKER, 0.35) for i in meter.accents[1:]]
    return [Hit(t, HAT, 0.75) for t in range(0, meter.ticks_per_bar, EIGHTH)]


def _section_pattern(plan: Plan, section: Section, rng: random.Random) -> list[Hit]:
    meter, family = plan.meter, plan.style.drums
    if (meter.numerator, meter.denominator) == (4, 4):
        return _from_steps(rng.choice(PATTERNS_44[family]))
    return _generic(meter, family, rng)


def _thin(hits: list[Hit], energy: float, bar_in_section: int, section: Section) -> list[Hit]:
    """Quiet bars lose ghosts and off-sixteenth hats; an intro starts with time only."""
    kept = []
    for hit in hits:
        if energy < 0.3 and hit.level < 0.5:
            continue
        if energy < 0.3 and hit.note in CYMBALS and hit.offset % EIGHTH:
            continue
        bare = energy < 0.15 or (section.name == "intro" and bar_in_section < section.bars // 2)
        if bare and hit.note not in CYMBALS and hit.offset != 0:
            continue
        kept.append(hit)
    return kept


def _fill(plan: Plan, start: int, energy: float, rng: random.Random) -> list[Hit]:
    """Snare-and-tom fill from `start` to the bar end; house builds a clap roll instead."""
    family, tpb = plan.style.drums, plan.meter.ticks_per_bar
    step = SIXTEENTH if energy >= 0.5 and family != "jazz" else EIGHTH
    ticks = list(range(start, tpb, step))
    if family == "four":
        voices = [CLAP] * len(ticks)
    else:
        kit = [SNARE, SNARE, TOM_HIGH, TOM_HIGH, TOM_MID, TOM_MID, TOM_LOW, TOM_FLOOR]
        if rng.random() < 0.5:
            kit = [SNARE, TOM_HIGH, SNARE, TOM_MID, SNARE, TOM_LOW, TOM_FLOOR, TOM_FLOOR]
        voices = [kit[i * len(kit) // len(ticks)] for i in range(len(ticks))]
    count = max(1, len(ticks) - 1)
    hits = [Hit(t, v, 0.55 + 0.45 * i / count) for i, (t, v) in enumerate(zip(ticks, voices,
                                                                            strict=True))]
    return hits + [Hit(start, KICK, 0.8)]


def _bar_hits(plan: Plan, bar: int, pattern: list[Hit], rng: random.Random) -> list[Hit]:
    section, meter = plan.section_of(bar), plan.meter
    in_section = bar - section.start_bar
    if plan.bars > 1 and bar == plan.bars - 1:
        return [Hit(0, KICK, 1.0), Hit(0, CRASH, 0.9)]  # the ending: one last hit that rings
    hits = _thin(pattern, plan.energy[bar], in_section, section)
    if plan.style.drums == "jazz":
        eighths = meter.ticks_per_bar // EIGHTH
        hits += [Hit(rng.randrange(1, eighths, 2) * EIGHTH, SNARE, 0.35)
                 for _ in range(rng.randint(0, 2)) if eighths > 1]
    section_end = in_section == section.bars - 1
    if plan.style.fills and (section_end or in_section % 4 == 3) and plan.energy[bar] >= 0.2:
        beats = meter.beats
        start = beats[len(beats) // 2][0] if section_end and len(beats) > 1 else beats[-1][0]
        hits = [h for h in hits if h.offset < start] + _fill(plan, start, plan.energy[bar], rng)
    opens = in_section == 0 and (section.start_bar > 0 or plan.energy[bar] >= 0.45)
    if opens and plan.style.drums != "ambient":
        hits = [h for h in hits if not (h.offset == 0 and h.note in CYMBALS)]
        hits.append(Hit(0, CRASH, 0.85))
    return hits


def groove(plan: Plan, rng: random.Random) -> list[list[Hit]]:
    """Every bar's drum hits; the bass reads the kicks from it, so both parts lock."""
    bars: list[list[Hit]] = []
    for section in plan.sections:
        pattern = _section_pattern(plan, section, rng)
        for bar in range(section.start_bar, section.start_bar + section.bars):
            if plan.style.drums == "ambient" and (plan.energy[bar] < 0.25 or bar % 2):
                bars.append([Hit(0, KICK, 0.5)] if bar == plan.bars - 1 else [])
                continue
            bars.append(_bar_hits(plan, bar, pattern, rng))
    return bars


def drum_notes(plan: Plan, hits_per_bar: list[list[Hit]]) -> list[Note]:
    """Render the groove with velocities that follow the energy curve."""
    tpb, notes = plan.meter.ticks_per_bar, []
    for bar, hits in enumerate(hits_per_bar):
        energy = plan.energy[bar]
        for hit in hits:
            level = hit.level
            if hit.note in CYMBALS and plan.meter.strength(hit.offset) < 0.6:
                level *= 0.8  # off-beat cymbals sit under the beat
            velocity = round(level * (60 + 58 * energy) + 6 + plan.mood.velocity * 0.5)
            length = 2 * EIGHTH if hit.note in (CRASH, OPEN_HAT) else SIXTEENTH // 2
            notes.append(Note(bar * tpb + hit.offset, length, hit.note, velocity))
    return notes
