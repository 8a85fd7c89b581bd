"""The chord track: voicings with voice leading, then each genre's comping rhythm."""

from __future__ import annotations

import random
from collections.abc import Callable

from pipelines.midi.form import ChordEvent, Plan
from pipelines.midi.meter import EIGHTH, Meter
from pipelines.midi.score import Note
from pipelines.midi.theory import Chord

Voicing = tuple[int, ...]
# Charleston-family comping figures for a bar of eighths: (start eighth, length in eighths).
_JAZZ_FIGURES = (((0, 3), (3, 1)), ((1, 1), (5, 2)), ((3, 2), (7, 1)), ((0, 2), (5, 1)),
                 ((2, 1), (6, 2)))


def _candidates(chord: Chord, low: int, high: int) -> list[Voicing]:
    tones = list(chord.tones)
    if len(tones) > 4:
        del tones[2]  # the fifth adds least colour and muddies a five-note voicing
    # Close position: tones in scale order above the root, so a ninth sits beside the root.
    tones.sort(key=lambda pc: (pc - chord.root) % 12)
    found = []
    for rotation in range(len(tones)):
        order = tones[rotation:] + tones[:rotation]
        for bottom in range(low, high + 1):
            if bottom % 12 != order[0]:
                continue
            pitches = [bottom]
            for pc in order[1:]:
                pitches.append(pitches[-1] + 1 + (pc - pitches[-1] - 1) % 12)
            if pitches[-1] <= high:
                found.append(tuple(pitches))
    return found


def _movement(new: Voicing, old: Voicing) -> int:
    there = sum(min(abs(a - b) for b in old) for a in new)
    back = sum(min(abs(a - b) for a in new) for b in old)
    return there + back


def voice(chord: Chord, previous: Voicing | None, register: tuple[int, int]) -> Voicing:
    """The inversion that moves least from the previous voicing, kept near the register centre."""
    low, high = register
    center = (low + high) / 2
    options = _candidates(chord, low, high) or _candidates(chord, low - 12, high + 12)

    def cost(option: Voicing) -> tuple[float, Voicing]:
        drift = abs(sum(option) / len(option) - center)
        if previous is None:
            return drift, option
        # The top voice is the one heard as a line: it moves least of all.
        top = abs(option[-1] - previous[-1])
        return _movement(option, previous) + 0.3 * drift + 0.5 * top, option

    return min(options, key=cost)


def _bars_in(event: ChordEvent, meter: Meter) -> list[int]:
    tpb = meter.ticks_per_bar
    first = event.tick - event.tick % tpb
    return list(range(first, event.tick + event.duration, tpb))


def _block(tick: int, duration: int, voicing: Voicing, velocity: int) -> list[Note]:
    return [Note(tick, max(1, duration), pitch, velocity) for pitch in voicing]


def _pad(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    return _block(event.tick, event.duration - 20, voicing, _velocity(plan, event.tick, 0.85))


def _keys(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    """Electric-piano comping: a held chord with one syncopated re-attack per bar when busier."""
    meter, end = plan.meter, event.tick + event.duration
    hits = [event.tick]
    for bar in _bars_in(event, meter):
        if plan.energy_at(bar) > 0.35 and len(meter.beats) > 1:
            offset = rng.choice([meter.offbeat(len(meter.beats) // 2 - 1), meter.half_bar()])
            if event.tick < bar + offset < end - EIGHTH:
                hits.append(bar + offset)
        if bar > event.tick:
            hits.append(bar)
    hits = sorted(set(hits))
    notes = []
    for index, tick in enumerate(hits):
        stop = hits[index + 1] if index + 1 < len(hits) else end
        level = 0.85 if index == 0 else 0.7
        notes += _block(tick, stop - tick - 15, voicing, _velocity(plan, tick, level))
    return notes


def _stabs(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    """House offbeat stabs; quiet bars keep every other one."""
    meter, end, notes = plan.meter, event.tick + event.duration, []
    for bar in _bars_in(event, meter):
        sparse = plan.energy_at(bar) < 0.35
        for beat in range(len(meter.beats)):
            tick = bar + meter.offbeat(beat)
            if event.tick <= tick < end and not (sparse and beat % 2 == 0):
                notes += _block(tick, min(150, end - tick), voicing, _velocity(plan, tick, 0.8))
    return notes


def _jazz(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    """Charleston-style comping figures, a fresh one each bar."""
    meter, end, notes = plan.meter, event.tick + event.duration, []
    eighths = meter.ticks_per_bar // EIGHTH
    for bar in _bars_in(event, meter):
        figure = rng.choice(_JAZZ_FIGURES)
        for start, length in figure:
            tick = bar + start * EIGHTH
            if start < eighths and event.tick <= tick < end:
                dur = min(length * EIGHTH - 20, end - tick)
                notes += _block(tick, dur, voicing, _velocity(plan, tick, 0.75))
    return notes or _pad(event, voicing, plan, rng)


def _arp(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    """Piano-ballad broken chords that ring until the end of their beat group."""
    meter, end, notes = plan.meter, event.tick + event.duration, []
    order = list(range(len(voicing))) + list(range(len(voicing) - 2, 0, -1))
    for bar in _bars_in(event, meter):
        step = EIGHTH if plan.energy_at(bar) >= 0.3 else 2 * EIGHTH
        for index, offset in enumerate(range(0, meter.ticks_per_bar, step)):
            tick = bar + offset
            if event.tick <= tick < end:
                ring = min(end, tick + 3 * step) - tick
                level = 0.8 if meter.strength(offset) >= 0.6 else 0.65
                pitch = voicing[order[index % len(order)]]
                notes.append(Note(tick, ring, pitch, _velocity(plan, tick, level)))
    return notes


def _strum(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    """Acoustic-guitar strums: downstrokes on the beats, upstrokes on the 'and' when busier."""
    meter, end, strokes = plan.meter, event.tick + event.duration, []
    for bar in _bars_in(event, meter):
        for beat in range(len(meter.beats)):
            strokes.append((bar + meter.beats[beat][0], True))
            if plan.energy_at(bar) >= 0.4 and (beat % 2 == 1 or plan.energy_at(bar) >= 0.65):
                strokes.append((bar + meter.offbeat(beat), False))
    strokes = sorted(s for s in strokes if event.tick <= s[0] < end)
    notes = []
    for index, (tick, down) in enumerate(strokes):
        stop = strokes[index + 1][0] if index + 1 < len(strokes) else end
        strings = voicing if down else tuple(reversed(voicing[-3:]))
        level = 0.8 if down else 0.6
        for order, pitch in enumerate(strings):
            roll = min(order * 12, max(0, stop - tick - 2))  # the pick crosses the strings
            notes.append(Note(tick + roll, max(1, stop - tick - roll - 10), pitch,
                              _velocity(plan, tick, level)))
    return notes


def _power(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    """Rock power chords: eighth-note chugs when loud, held accents when quiet."""
    meter, end, notes = plan.meter, event.tick + event.duration, []
    root = 40 + (event.chord.root - 40) % 12
    fifth = (event.chord.tones[2] - event.chord.root) % 12  # stays in key on a diminished chord
    shape = (root, root + fifth, root + 12)
    for bar in _bars_in(event, meter):
        if plan.energy_at(bar) >= 0.55:
            offsets = list(range(0, meter.ticks_per_bar, EIGHTH))
        else:
            offsets = [meter.beats[i][0] for i in meter.accents]
        offsets.append(meter.ticks_per_bar)
        for this, after in zip(offsets, offsets[1:], strict=False):
            tick = bar + this
            if event.tick <= tick < end:
                level = 0.85 if meter.strength(this) >= 0.6 else 0.7
                dur = min(after - this - 30, end - tick)
                notes += _block(tick, dur, shape, _velocity(plan, tick, level))
    return notes


def _pulse(event: ChordEvent, voicing: Voicing, plan: Plan, rng: random.Random) -> list[Note]:
    """Pop piano: a chord on every beat, or on the accents when the energy is low."""
    meter, end, notes = plan.meter, event.tick + event.duration, []
    for bar in _bars_in(event, meter):
        beats = range(len(meter.beats)) if plan.energy_at(bar) >= 0.4 else meter.accents
        starts = [meter.beats[b][0] for b in beats] + [meter.ticks_per_bar]
        for this, after in zip(starts, starts[1:], strict=False):
            tick = bar + this
            if event.tick <= tick < end:
                level = 0.8 if meter.strength(this) >= 0.8 else 0.68
                notes += _block(tick, min(after - this - 40, end - tick), voicing,
                                _velocity(plan, tick, level))
    return notes


_COMPERS: dict[str, Callable[[ChordEvent, Voicing, Plan, random.Random], list[Note]]] = {
    "pad": _pad, "keys": _keys, "stabs": _stabs, "jazz": _jazz, "arp": _arp, "strum": _strum,
    "power": _power, "pulse": _pulse,
}


def _velocity(plan: Plan, tick: int, level: float) -> int:
    return round((46 + 46 * plan.energy_at(tick) + plan.mood.velocity) * level + 10)


def chord_notes(plan: Plan, rng: random.Random) -> list[Note]:
    """The whole chord track, voice-led from chord to chord, under the melody."""
    low, high = plan.style.chord_register
    shift = max(-4, min(4, plan.mood.register))
    # The voicing stays under the middle of the melody's range, so the melody is heard over
    # its harmony rather than inside it.
    # Not below the style's own floor, though: that is the bass's room.
    top = max(low + shift + 14, min(high + shift, plan.melody_tonic + 2))
    register = (low + shift - 5, top)
    comper = _COMPERS[plan.style.comp]
    previous: Voicing | None = None
    notes: list[Note] = []
    ending = plan.chords[-1] if plan.bars > 1 else None
    for event in plan.chords:
        voicing = voice(event.chord, previous, register)
        # The final tonic is held, whatever the genre's rhythm, so the song lands.
        notes += (_pad if event is ending else comper)(event, voicing, plan, rng)
        previous = voicing
    return notes
