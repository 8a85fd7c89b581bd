"""The bass line: roots on strong beats, fifths and octaves, approach notes into the next chord."""

from __future__ import annotations

import random

from pipelines.midi.drums import KICK, Hit
from pipelines.midi.form import ChordEvent, Plan
from pipelines.midi.meter import EIGHTH
from pipelines.midi.score import Note

LOW, HIGH = 28, 52  # E1 to E3: where a bass guitar sounds like one


def root_pitch(pc: int) -> int:
    """The chord root placed between A1 and G#2."""
    return 33 + (pc - 33) % 12


def _span_ticks(event: ChordEvent, ticks: list[int]) -> list[int]:
    end = event.tick + event.duration
    return sorted({event.tick, *[t for t in ticks if event.tick <= t < end]})


def _onsets(plan: Plan, event: ChordEvent, kicks: list[int]) -> list[int]:
    """Where the bass plays inside one chord, by the style's bass rhythm."""
    meter, style, tpb = plan.meter, plan.style.bass, plan.meter.ticks_per_bar
    first_bar = event.tick // tpb
    bars = range(first_bar, (event.tick + event.duration - 1) // tpb + 1)
    energy = plan.energy_at(event.tick)
    if style == "drone":
        return [event.tick]
    if style == "locked":
        return _span_ticks(event, kicks + [b * tpb for b in bars])
    if style == "pump":
        step = 1 if energy >= 0.35 else 2
        return _span_ticks(event, [b * tpb + meter.offbeat(i) for b in bars
                                   for i in range(0, len(meter.beats), step)])[1:] or [event.tick]
    if style == "walk":
        return _span_ticks(event, [b * tpb + s for b in bars for s, _ in meter.beats])
    if style == "eighths" and energy >= 0.45:
        return _span_ticks(event, [b * tpb + t for b in bars for t in range(0, tpb, EIGHTH)])
    accents = [b * tpb + meter.beats[i][0] for b in bars for i in meter.accents]
    if energy >= 0.6 and len(meter.beats) > 1:
        accents += [b * tpb + meter.offbeat(len(meter.beats) - 1) for b in bars]
    return _span_ticks(event, accents)


def _pitch(plan: Plan, event: ChordEvent, index: int, tick: int, rng: random.Random) -> int:
    style, strong = plan.style.bass, plan.meter.strength(tick) >= 0.8
    root = root_pitch(event.chord.root)
    fifth = root + (event.chord.tones[2] - event.chord.root) % 12  # the chord's own fifth
    if fifth > HIGH - 4:
        fifth -= 12
    if index == 0:
        return root
    if style == "pump":
        return root + 12 if index % 2 else root
    if style in ("root5", "eighths") and strong:
        return fifth if style == "root5" or rng.random() < 0.4 else root
    if style == "locked" and rng.random() < 0.3:
        return rng.choice([root + 12, fifth])
    return root


def _neighbour(plan: Plan, target: int, above: bool, chromatic: bool) -> int:
    """The note a step above or below `target`: a semitone, or the next scale tone."""
    direction = 1 if above else -1
    if chromatic:
        return target + direction
    pitch = target + direction
    while pitch % 12 not in plan.key.scale:
        pitch += direction
    return pitch


def _walk(plan: Plan, event: ChordEvent, onsets: list[int], target: int | None,
          rng: random.Random) -> list[int]:
    """A walking line: root, chord and scale tones heading for the next root, then an approach."""
    root = root_pitch(event.chord.root)
    line = [root]
    goal = target if target is not None else root
    for _ in onsets[1:-1]:
        here = line[-1]
        options = [p for p in range(max(LOW, here - 7), min(HIGH, here + 7) + 1)
                   if p != here and (p % 12 in event.chord.tones or
                                     (p % 12 in plan.key.scale and abs(p - here) <= 2))]
        options.sort(key=lambda p: (abs(p - goal), p))
        line.append(rng.choice(options[:3]) if options else here)
    if len(onsets) > 1:
        above = line[-1] > goal
        line.append(_neighbour(plan, goal, above, chromatic=rng.random() < 0.35))
    return line


def _velocity(plan: Plan, tick: int, strong: bool) -> int:
    level = 1.0 if strong else 0.85
    return round((58 + 44 * plan.energy_at(tick) + plan.mood.velocity) * level)


def _event_notes(plan: Plan, event: ChordEvent, following: ChordEvent | None,
                 kicks: list[int], rng: random.Random) -> list[Note]:
    onsets = _onsets(plan, event, kicks)
    root = root_pitch(event.chord.root)
    target = root_pitch(following.chord.root) if following is not None else None
    if plan.style.bass == "walk":
        pitches = _walk(plan, event, onsets, target, rng)
    else:
        pitches = [_pitch(plan, event, i, t, rng) for i, t in enumerate(onsets)]
        approach_at = event.tick + event.duration - EIGHTH
        if (target is not None and target != root and onsets[-1] < approach_at
                and plan.style.bass not in ("drone", "pump") and rng.random() < 0.6):
            onsets.append(approach_at)
            pitches.append(_neighbour(plan, target, pitches[-1] > target, chromatic=False))
    end, staccato = event.tick + event.duration, plan.style.bass in ("pump", "eighths")
    notes = []
    for index, (tick, pitch) in enumerate(zip(onsets, pitches, strict=True)):
        stop = onsets[index + 1] if index + 1 < len(onsets) else end
        length = min(stop - tick - 20, 200) if staccato else stop - tick - 20
        strong = plan.meter.strength(tick) >= 0.6
        notes.append(Note(tick, max(1, length), pitch, _velocity(plan, tick, strong)))
    return notes


def bass_notes(plan: Plan, hits_per_bar: list[list[Hit]], rng: random.Random) -> list[Note]:
    """The whole bass track; kicks come from the groove so bass and kick drum lock."""
    tpb = plan.meter.ticks_per_bar
    kicks = [bar * tpb + hit.offset for bar, hits in enumerate(hits_per_bar)
             for hit in hits if hit.note == KICK and hit.level >= 0.5]
    notes: list[Note] = []
    for index, event in enumerate(plan.chords):
        following = plan.chords[index + 1] if index + 1 < len(plan.chords) else None
        if following is None and plan.bars > 1:
            notes.append(Note(event.tick, event.duration - 20, root_pitch(event.chord.root),
                              _velocity(plan, event.tick, True)))
            continue
        notes += _event_notes(plan, event, following, kicks, rng)
    return notes
