"""The song plan every part reads: key, meter, energy per bar, sections and the chord timeline."""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from functools import cached_property

from pipelines.midi.grammar import cadence, derive, split
from pipelines.midi.meter import Meter
from pipelines.midi.styles import Mood, Progression, Style
from pipelines.midi.theory import Chord, Key, chord_from_numeral, nearest_pitch


@dataclass(frozen=True)
class Section:
    """A run of bars with one function in the song."""

    start_bar: int
    bars: int
    name: str  # intro, verse, chorus, bridge or outro


@dataclass(frozen=True)
class ChordEvent:
    """A chord sounding from `tick` for `duration` ticks; degree is 1-based in the mode."""

    tick: int
    duration: int
    chord: Chord
    degree: int


@dataclass(frozen=True)
class Plan:
    """Everything decided before any part is written."""

    key: Key
    meter: Meter
    style: Style
    mood: Mood
    bars: int
    tempo_bpm: float
    swing: float
    humanize_ms: float
    energy: tuple[float, ...]
    sections: tuple[Section, ...]
    chords: tuple[ChordEvent, ...]

    @property
    def total_ticks(self) -> int:
        return self.bars * self.meter.ticks_per_bar

    @cached_property
    def _chord_ticks(self) -> list[int]:
        return [event.tick for event in self.chords]

    def chord_at(self, tick: int) -> ChordEvent:
        index = bisect.bisect_right(self._chord_ticks, tick) - 1
        return self.chords[max(0, index)]

    def section_of(self, bar: int) -> Section:
        for section in self.sections:
            if section.start_bar <= bar < section.start_bar + section.bars:
                return section
        return self.sections[-1]

    @property
    def melody_tonic(self) -> int:
        """The tonic the melody's degrees count from; its range runs about a fourth below to a
        tenth above."""
        return nearest_pitch(self.key.pc, self.style.melody_center + self.mood.register - 4)

    def energy_at(self, tick: int) -> float:
        bar = min(self.bars - 1, max(0, tick // self.meter.ticks_per_bar))
        return self.energy[bar]


def bar_energies(bars: int, energy: float, curve: tuple[float, ...], shift: float) -> tuple[
        float, ...]:
    """The intent's curve spread over the bars, else the base energy with a gentle arc."""
    values = []
    for bar in range(bars):
        where = bar / max(1, bars - 1)
        if curve:
            position = where * (len(curve) - 1)
            low = int(math.floor(position))
            high = min(low + 1, len(curve) - 1)
            base = curve[low] + (curve[high] - curve[low]) * (position - low)
        else:
            # Rises to a peak about two thirds in, then settles: the shape of most songs.
            arc = -0.15 + 0.35 * where / 0.7 if where <= 0.7 else 0.2 - 0.3 * (where - 0.7) / 0.3
            base = energy + arc
        values.append(round(min(1.0, max(0.0, base + shift)), 4))
    return tuple(values)


def plan_sections(energy: tuple[float, ...]) -> tuple[Section, ...]:
    """Cut the song into 8-bar (4 when short) sections and name them by place and energy: intro,
    verse, chorus, bridge (songs of five sections or more) and outro."""
    bars = len(energy)
    size = 8 if bars >= 16 else min(4, bars)
    chunks = [(start, min(size, bars - start)) for start in range(0, bars, size)]
    average = sum(energy) / bars
    sections = []
    for index, (start, length) in enumerate(chunks):
        mean = sum(energy[start:start + length]) / length
        if index == 0 and len(chunks) >= 3:
            name = "intro"
        elif index == len(chunks) - 1 and len(chunks) >= 4:
            name = "outro"
        elif index == len(chunks) - 2 and len(chunks) >= 5:
            name = "bridge"  # a long song leaves its verse and chorus once before going home
        else:
            name = "chorus" if mean >= average + 0.04 else "verse"
        sections.append(Section(start, length, name))
    return tuple(sections)


def _colored(token: str, mood: Mood) -> str:
    """A colourful mood adds sevenths; a borrowed chord (bVI, bVII) takes a major seventh, which
    stays in the key, rather than a dominant one."""
    if not mood.color or token[-1].isdigit() or "/" in token:
        return token
    return token + ("maj7" if token[0] in "b#" else "7")


def _degree(token: str) -> int:
    if "/" in token:  # a secondary dominant sits on the degree a fifth above its target's
        return (_degree(token.partition("/")[2]) + 3) % 7 + 1
    numeral = token.lstrip("b#")
    for name, degree in (("vii", 7), ("vi", 6), ("v", 5), ("iv", 4), ("iii", 3), ("ii", 2)):
        if numeral.lower().startswith(name):
            return degree
    return 1


def _lay_progression(
    key: Key, meter: Meter, mood: Mood, progression: Progression, section: Section,
    ending: tuple[str | None, str | None] = (None, None),
) -> list[ChordEvent]:
    tpb = meter.ticks_per_bar
    start, end = section.start_bar * tpb, (section.start_bar + section.bars) * tpb
    if progression.bars_per_chord >= 1:
        spans = [int(progression.bars_per_chord) * tpb]
    else:
        spans = [meter.half_bar(), tpb - meter.half_bar()]
    tokens: list[tuple[int, int, str]] = []
    tick = start
    while tick < end:
        length = min(spans[len(tokens) % len(spans)], end - tick)
        tokens.append((tick, length, progression.chords[len(tokens) % len(progression.chords)]))
        tick += length
    seventh = sum(split(t)[1] == "7" for t in progression.chords) * 2 > len(progression.chords)
    for back, numeral in ((2, ending[0]), (1, ending[1])):
        if numeral is not None and len(tokens) > back:  # a section of one chord keeps it
            at, length, _ = tokens[-back]
            tokens[-back] = (at, length, numeral + ("7" if seventh else ""))
    events = []
    for tick, length, raw in tokens:
        token = _colored(raw, mood)
        events.append(ChordEvent(tick, length, chord_from_numeral(key, token), _degree(token)))
    return events


def chord_timeline(
    key: Key, meter: Meter, style: Style, genre: str, mood: Mood, sections: tuple[Section, ...],
    rng: random.Random,
) -> tuple[ChordEvent, ...]:
    """Each section function gets its own progression from the style's grammar (intro and outro
    borrow the verse's), every section but the last ends on a cadence, and the last bar comes
    home to the tonic."""
    minor = key.minor_family
    verse = derive(style, genre, minor, rng)
    own = {"verse": verse, "chorus": derive(style, genre, minor, rng, avoid=verse, borrow=True)}
    own["bridge"] = derive(style, genre, minor, rng, avoid=verse, borrow=True)
    events: list[ChordEvent] = []
    for index, section in enumerate(sections):
        progression = own.get(section.name, verse)
        ending = cadence(genre, minor, rng) if index + 1 < len(sections) else (None, None)
        events.extend(_lay_progression(key, meter, mood, progression, section, ending))
    total = sum(s.bars for s in sections) * meter.ticks_per_bar
    if total > meter.ticks_per_bar:
        last_bar = total - meter.ticks_per_bar
        events = [e if e.tick + e.duration <= last_bar else
                  ChordEvent(e.tick, last_bar - e.tick, e.chord, e.degree)
                  for e in events if e.tick < last_bar]
        tonic = _colored("i" if key.minor_family else "I", mood)
        if style.comp in ("jazz", "keys", "pad") and tonic in ("i", "I"):
            tonic += "7"
        events.append(ChordEvent(last_bar, meter.ticks_per_bar, chord_from_numeral(key, tonic), 1))
    return tuple(events)
