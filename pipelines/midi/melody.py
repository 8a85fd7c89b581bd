"""The melody: periods of two 4-bar phrases built from two motifs, cadencing home every 8 bars.

An antecedent phrase states motif A, varies it, brings motif B and rests on a non-tonic chord
tone; the consequent repeats the opening and cadences to the tonic. Choruses lead with B, sit
higher and add passing tones; a bridge sits lower and opens with B in longer notes. Chord tones
are the tones of the harmony the accompaniment actually sounds below the melody at each onset
(sounding.py), not the chord symbol: so the voicing, the pushes of the comping and the bass
agree with the melody. Accented beats take chord tones; a non-chord tone elsewhere must be a
passing or neighbour tone, moving by step from a chord tone and on to one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipelines.midi.form import Plan
from pipelines.midi.humanize import swing_notes, swing_unit, swung_tick
from pipelines.midi.motif import HIGH_DEGREE, LOW_DEGREE, VARIATIONS, Motif, make_motif, vary, walk_degrees
from pipelines.midi.score import Note
from pipelines.midi.seeds import stream
from pipelines.midi.sounding import LOOKAHEAD_MS, Sounding, is_chord_tone

Placed = tuple[int, int, int]  # tick, duration, scale degree
# Accented beats take chord tones; a weaker beat may hold a non-chord tone only when it is reached
# by step (a passing or neighbour tone), as embellishing tones are.
ACCENT = 0.8


@dataclass(frozen=True)
class Phrase:
    start_bar: int
    bars: int
    consequent: bool


class Tune:
    """Degree arithmetic for one plan: scale degree <-> MIDI pitch, chord tones by tick."""

    def __init__(self, plan: Plan, accompaniment: list[Note]) -> None:
        self.plan = plan
        # Heard as swung: the melody's onsets and the accompaniment move the same way.
        self.unit = swing_unit(plan)
        self.harmony = Sounding(swing_notes(accompaniment, plan.swing, self.unit))
        self.lookahead = round(LOOKAHEAD_MS * 480 * plan.tempo_bpm / 60000.0)
        self.tonic = plan.melody_tonic

    def pitch(self, degree: int) -> int:
        octave, index = divmod(degree, 7)
        return self.tonic + 12 * octave + self.plan.key.steps[index]

    def is_chord_tone(self, tick: int, degree: int) -> bool:
        """Whether the degree is a tone of the harmony sounding below it at `tick` (the symbol's
        tones if nothing sounds below: a gap in the comping)."""
        pitch = self.pitch(degree)
        below = self.harmony.below(swung_tick(tick, self.plan.swing, self.unit) + self.lookahead, pitch)
        if not below:
            return pitch % 12 in self.plan.chord_at(tick).chord.tones
        return is_chord_tone(pitch % 12, below)

    def chord_degrees(self, tick: int, exclude_tonic: bool = False) -> list[int]:
        found = [d for d in range(LOW_DEGREE, HIGH_DEGREE + 1) if self.is_chord_tone(tick, d)]
        if exclude_tonic:
            found = [d for d in found if d % 7] or found
        return found or [0]

    def nearest_chord_degree(self, tick: int, degree: int, exclude_tonic: bool = False) -> int:
        options = self.chord_degrees(tick, exclude_tonic)
        return min(options, key=lambda d: (abs(d - degree), d))


def phrases(plan: Plan) -> list[Phrase]:
    """4-bar phrases inside each section, alternating antecedent and consequent."""
    cut = []
    for section in plan.sections:
        for start in range(section.start_bar, section.start_bar + section.bars, 4):
            cut.append((start, min(4, section.start_bar + section.bars - start)))
    return [Phrase(start, bars, index % 2 == 1 or index == len(cut) - 1)
            for index, (start, bars) in enumerate(cut)]


def _place(tune: Tune, motif: Motif, start_tick: int, degree: int) -> list[Placed]:
    """Lay a motif from a start degree, then pull strong-beat notes onto chord tones."""
    meter, placed = tune.plan.meter, list[Placed]()
    degrees = walk_degrees(degree, motif.steps)
    for (offset, duration), deg in zip(motif.rhythm, degrees, strict=True):
        tick = start_tick + offset
        leap = _last_leap(tune, placed)
        strength = meter.strength(tick % meter.ticks_per_bar)
        stepwise = bool(placed) and abs(deg - placed[-1][2]) == 1
        if strength >= ACCENT or (strength >= 0.6 and not stepwise):
            deg = _fit(tune, tick, deg, placed[-1][2] if placed else None, leap)
        elif leap:
            deg = placed[-1][2] - leap  # a leap is answered by a step the other way
        if placed and abs(tune.pitch(deg) - tune.pitch(placed[-1][2])) == 6:
            deg += 1 if deg < placed[-1][2] else -1  # no bare tritone leaps: they do not sing
        placed.append((tick, duration, deg))
    return placed


def _last_leap(tune: Tune, placed: list[Placed]) -> int:
    """Direction (+1/-1) of the last interval if it leapt more than a major third, else 0."""
    if len(placed) < 2:
        return 0
    interval = tune.pitch(placed[-1][2]) - tune.pitch(placed[-2][2])
    return 0 if abs(interval) <= 4 else (1 if interval > 0 else -1)


def _fit(tune: Tune, tick: int, degree: int, previous: int | None, leap: int) -> int:
    """The chord tone nearest `degree`, avoiding a repeat and not continuing a leap."""
    def cost(option: int) -> tuple[float, int]:
        penalty = 0.5 if option == previous else 0.0
        if previous is not None:
            penalty += 0.4 * max(0, abs(option - previous) - 2)  # beyond a third is a leap
            if leap and (option - previous) * leap > 0:
                penalty += 1.0
        return abs(option - degree) + penalty, option

    return min(tune.chord_degrees(tick), key=cost)


def _cadence(tune: Tune, start: int, span: int, previous: int, home: bool,
             rng: random.Random) -> list[Placed]:
    """Step into a long final note (tonic when `home`), then rest before the next phrase."""
    meter = tune.plan.meter
    accents = [meter.beats[i][0] for i in meter.accents]
    land = start + (accents[1] if len(accents) > 1 and rng.random() < 0.6 else 0)
    if home:
        target = min((0, 7), key=lambda d: abs(d - previous))
    else:
        target = tune.nearest_chord_degree(land, previous, exclude_tonic=True)
    notes: list[Placed] = []
    grid = tune.plan.style.melody_grid
    if land > start:
        side = 1 if previous > target else -1
        if not LOW_DEGREE <= target + 2 * side <= HIGH_DEGREE:
            side = -side  # approach from inside the singable range
        for k, tick in enumerate((land - 2 * grid, land - grid)):
            if tick >= start:
                notes.append((tick, grid - 10, target + side * (2 - k)))
    rest = max(meter.beats[0][1], span // 4)
    if tune.plan.bars * meter.ticks_per_bar - (start + span) <= 0:
        rest = 60  # the song's last note may ring to the end
    notes.append((land, max(grid, start + span - rest - land), target))
    return notes


def _passing(placed: list[Placed], tune: Tune, grid: int) -> list[Placed]:
    """Fill thirds with a passing tone on the weak grid slot between them."""
    meter, out = tune.plan.meter, []
    for (tick, dur, deg), nxt in zip(placed, placed[1:] + [None], strict=True):
        out.append((tick, dur, deg))
        if nxt is None or abs(nxt[2] - deg) != 2 or nxt[0] - tick < 2 * grid:
            continue
        middle = tick + (nxt[0] - tick) // 2 // grid * grid
        if middle > tick and meter.strength(middle % meter.ticks_per_bar) < 0.6:
            out[-1] = (tick, middle - tick - 10, deg)
            out.append((middle, nxt[0] - middle - 10, (deg + nxt[2]) // 2))
    return out


def _embellishing(tune: Tune, placed: list[Placed], index: int) -> bool:
    """A passing or neighbour tone off the accented beats (weak beats included, as in chorales):
    reached by step from a chord tone and left by step to one."""
    tick, duration, degree = placed[index]
    if index + 1 >= len(placed):
        return False
    after_tick, _, after = placed[index + 1]
    resolves = abs(after - degree) == 1 and tune.is_chord_tone(after_tick, after)
    if tune.plan.meter.strength(tick % tune.plan.meter.ticks_per_bar) >= ACCENT:
        # An appoggiatura or suspension: an accented dissonance resolving by step at once.
        return resolves and after_tick - tick - duration <= 20
    if index == 0:
        return False
    before_tick, _, before = placed[index - 1]
    return abs(degree - before) == 1 and resolves and tune.is_chord_tone(before_tick, before)


def _appoggiatura(tune: Tune, placed: list[Placed]) -> list[Placed]:
    """The first accented long note of a bar leans on the step above and resolves down to it:
    an appoggiatura, or a suspension when the note before already held that step."""
    meter, grid = tune.plan.meter, tune.plan.style.melody_grid
    for index, (tick, duration, degree) in enumerate(placed):
        accented = meter.strength(tick % meter.ticks_per_bar) >= ACCENT
        if accented and duration >= 2 * grid - 10 and degree + 1 <= HIGH_DEGREE:
            if tune.is_chord_tone(tick, degree + 1):
                continue  # the step above is consonant here: no dissonance to lean on
            lean = (tick, grid - 10, degree + 1)
            resolution = (tick + grid, duration - grid, degree)
            return placed[:index] + [lean, resolution] + placed[index + 1:]
    return placed


def _fit_harmony(tune: Tune, placed: list[Placed]) -> list[Placed]:
    """Every non-chord tone that is no passing or neighbour tone moves to the nearest chord tone."""
    out = list(placed)
    for index, (tick, duration, degree) in enumerate(out):
        if tune.is_chord_tone(tick, degree) or _embellishing(tune, out, index):
            continue
        previous = out[index - 1][2] if index else degree
        out[index] = (tick, duration, _smooth_fit(tune, tick, degree, previous))
    return out


def _smooth_fit(tune: Tune, tick: int, degree: int, previous: int) -> int:
    """The chord tone nearest `degree` that leaps least from the previous note."""
    def cost(option: int) -> tuple[float, int]:
        leap = max(0, abs(option - previous) - 2)  # a third is still a step in a tune's line
        return abs(option - degree) + 0.8 * leap + (0.3 if option == previous else 0.0), option

    return min(tune.chord_degrees(tick), key=cost)


def _phrase(tune: Tune, motifs: tuple[Motif, Motif], phrase: Phrase, previous: int,
            base: int) -> list[Placed]:
    plan = tune.plan
    name = plan.section_of(phrase.start_bar).name
    kind = name if name in ("chorus", "bridge") else "verse"
    first, second = motifs if kind == "verse" else (motifs[1], motifs[0])
    if kind == "bridge":  # the contrast: lower, and the motif in longer notes
        first = vary(first, "augment", plan.style.melody_grid)
    lift = {"chorus": 2, "bridge": -1}.get(kind, 0)
    span_bars = plan.style.motif_bars if phrase.bars % plan.style.motif_bars == 0 else 1
    slots, tpb, placed = phrase.bars // span_bars, plan.meter.ticks_per_bar, []
    for slot in range(slots):
        start = (phrase.start_bar + slot * span_bars) * tpb
        # Opening slots ignore the phrase's parity, so a consequent restates its antecedent.
        rng = stream(base, kind, str(slot), "" if slot < 2 else str(phrase.consequent))
        if slot == slots - 1:
            placed += _cadence(tune, start, span_bars * tpb, previous, phrase.consequent, rng)
            break
        motif = first if slot < 2 else second
        if slot == 0:
            degree = rng.choice([d for d in tune.chord_degrees(start) if lift <= d <= 4 + lift]
                                or [lift])
        else:
            variation = rng.choice(VARIATIONS)
            motif = vary(motif, variation, plan.style.melody_grid)
            shifted = previous + (rng.choice((-2, 2)) if variation == "sequence" else 0)
            degree = tune.nearest_chord_degree(start, shifted)
        notes = _place(tune, motif, start, degree)
        notes = _appoggiatura(tune, notes)  # each statement leans into the harmony once
        if kind == "chorus" and plan.energy[phrase.start_bar] >= 0.55:
            notes = _passing(notes, tune, plan.style.melody_grid)
        placed += notes
        previous = notes[-1][2]
    return placed


def _released(plan: Plan, placed: list[Placed]) -> list[Placed]:
    """A note struck off the beat is let go before the next stronger position rather than tied
    over it: the phrasing of a sung line, and the card's syncopation stays where songs keep it."""
    meter, grid, out = plan.meter, plan.style.melody_grid, []
    tpb = meter.ticks_per_bar
    for tick, duration, degree in placed:
        offset, own = tick % tpb, meter.strength(tick % tpb)
        stronger = next((p for p in range(offset + grid, offset + duration, grid)
                         if meter.strength(p % tpb) > own), None)
        if stronger is not None and own < ACCENT:
            duration = max(grid // 2, stronger - offset - 10)
        out.append((tick, duration, degree))
    return out


def melody_notes(plan: Plan, rng: random.Random, accompaniment: list[Note]) -> list[Note]:
    """The whole melody over the accompaniment as written; intros are left to the band."""
    tune = Tune(plan, accompaniment)
    motifs = (make_motif(plan, rng), make_motif(plan, rng))
    base, previous, notes = rng.getrandbits(32), 2, []
    for phrase in phrases(plan):
        if plan.section_of(phrase.start_bar).name == "intro":
            continue
        placed = _fit_harmony(tune, _phrase(tune, motifs, phrase, previous, base))
        previous = placed[-1][2] if placed else previous
        for tick, duration, degree in _released(plan, placed):
            strong = plan.meter.strength(tick % plan.meter.ticks_per_bar) >= 0.6
            velocity = (64 + 44 * plan.energy_at(tick) + plan.mood.velocity) * (1.0 if strong
                                                                                 else 0.88)
            notes.append(Note(tick, max(1, duration), tune.pitch(degree), round(velocity)))
    return notes
