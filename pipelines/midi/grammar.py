"""Progressions drawn from a per-style grammar rather than played from a table.

A style's table gives a few idiomatic progressions; the grammar derives a song's own from one of
them: it may start the cycle elsewhere, replace chords by their relatives (substitutes sharing
two tones: I~vi~iii, IV~ii, v~VII), borrow chords from the parallel mode (bVI, bVII, bIII in
major; the major V in minor), and in jazz put the tritone substitute bII7 for V7. Every section
but the last ends on a cadence of a kind the style uses (authentic, plagal, deceptive, half, or
a ii-V turnaround). So two seeds of one style share an idiom, not a song.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from pipelines.midi.styles import Progression, Style

_TOKEN = re.compile(r"^([b#]?)(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(.*)$")
# Substitutes by function: each shares two tones with the chord it replaces.
RELATIVES = {
    "major": {"I": ("vi", "iii"), "IV": ("ii",), "ii": ("IV",), "vi": ("I", "IV"), "iii": ("I",),
              "V": ("iii",)},
    "minor": {"i": ("III", "VI"), "iv": ("VI",), "VI": ("iv", "i"), "III": ("i",), "v": ("VII",),
              "VII": ("v",)},
}
BORROWED = {"major": {"vi": "bVI", "V": "bVII", "iii": "bIII", "IV": "bVII"},
            "minor": {"v": "V", "VII": "V"}}
# (penultimate, last) numerals of each cadence; None keeps the progression's own chord.
CADENCES = {
    "major": {"authentic": ("V", "I"), "plagal": ("IV", "I"), "deceptive": ("V", "vi"),
              "half": (None, "V"), "turnaround": ("ii", "V")},
    "minor": {"authentic": ("V", "i"), "plagal": ("iv", "i"), "deceptive": ("V", "VI"),
              "half": (None, "V"), "turnaround": ("iv", "V")},
}


@dataclass(frozen=True)
class Grammar:
    """How freely one style rewrites its progressions."""

    substitute: float  # chance each chord is replaced by a relative
    borrow: float  # chance each chord is borrowed from the parallel mode
    rotate: float  # chance the cycle starts on another chord than the table's first
    cadences: tuple[str, ...]  # kinds drawn for section ends; empty: loops run on
    tritone: bool = False  # bII7 for V7
    secondary: float = 0.15  # chance a chord before ii, iii, IV, V or vi becomes its V7


GRAMMARS: dict[str, Grammar] = {
    "triphop": Grammar(0.3, 0.05, 0.4, ("half", "deceptive"), secondary=0.15),
    "lofi": Grammar(0.35, 0.06, 0.5, ("turnaround", "half", "deceptive"), secondary=0.25),
    "house": Grammar(0.4, 0.05, 0.5, (), secondary=0.15),
    "ballad": Grammar(0.45, 0.05, 0.3, ("authentic", "plagal", "deceptive", "half"), secondary=0.3),
    "jazz": Grammar(0.35, 0.0, 0.4, ("turnaround", "authentic", "deceptive", "half"), tritone=True,
                    secondary=0.3),
    "folk": Grammar(0.25, 0.05, 0.3, ("authentic", "plagal", "half"), secondary=0.2),
    "rock": Grammar(0.4, 0.05, 0.4, ("half", "plagal", "authentic"), secondary=0.15),
    "ambient": Grammar(0.5, 0.0, 0.5, (), secondary=0.1),
    "pop": Grammar(0.3, 0.05, 0.4, ("authentic", "deceptive", "half"), secondary=0.2),
}


def split(token: str) -> tuple[str, str]:
    """A token's numeral (with its accidental) and its suffix: 'bVII7' -> ('bVII', '7')."""
    match = _TOKEN.match(token)
    if match is None:
        raise ValueError(f"bad roman numeral {token!r}")
    return match.group(1) + match.group(2), match.group(3)


def _rewrite(token: str, family: str, grammar: Grammar, rng: random.Random,
             borrow: bool) -> tuple[str, bool]:
    """The token, perhaps rewritten, and whether it became a borrowed chord."""
    numeral, suffix = split(token)
    roll, borrowed = rng.random(), False
    if roll < grammar.substitute and numeral in RELATIVES[family]:
        numeral = rng.choice(RELATIVES[family][numeral])
    elif borrow and roll < grammar.substitute + grammar.borrow and numeral in BORROWED[family]:
        numeral, borrowed = BORROWED[family][numeral], True
        suffix = "" if suffix not in ("", "7") else suffix
    if grammar.tritone and numeral == "V" and suffix == "7" and rng.random() < 0.2:
        numeral = "bII"
    return numeral + suffix, borrowed


def _rewrite_all(chords: list[str], family: str, grammar: Grammar, rng: random.Random,
                 borrow: bool) -> list[str]:
    """Every chord but the first rewritten; one borrowed chord at most, a colour, not a key change."""
    out = chords[:1]
    for token in chords[1:]:
        rewritten, borrowed = _rewrite(token, family, grammar, rng, borrow)
        out.append(rewritten)
        borrow = borrow and not borrowed
    return out


def derive(style: Style, genre: str, minor: bool, rng: random.Random,
           avoid: Progression | None = None, borrow: bool = False) -> Progression:
    """A progression of the style's idiom: a table entry, rotated and rewritten by the grammar;
    only with `borrow` (choruses and bridges: the verse states the key) may it borrow a chord."""
    table = style.minor if minor else style.major
    options = [p for p in table if p != avoid] or list(table)
    base, grammar = rng.choice(options), GRAMMARS[genre]
    chords = list(base.chords)
    if rng.random() < grammar.rotate:
        start = rng.randrange(1, len(chords))
        chords = chords[start:] + chords[:start]
    family = "minor" if minor else "major"
    # The first chord keeps its function: the section still opens where the table opens it.
    # Played twice in a section, the cycle is varied the second time, as a song does.
    once = _rewrite_all(chords, family, grammar, rng, borrow)
    again = _rewrite_all(once, family, grammar, rng, borrow)
    cycle = _moving(once + again, family)
    if borrow:  # chromatic colour, like borrowing, is the chorus's and the bridge's
        cycle = _secondaries(cycle, family, grammar, rng)
    # Where chords last two bars or more, a chorus or bridge moves twice as fast: its energy.
    bars = base.bars_per_chord / 2 if borrow and base.bars_per_chord >= 2 else base.bars_per_chord
    return Progression(tuple(cycle), bars)


# Chords a secondary dominant may lead to (the tonic has its own dominant).
TONICIZED = {"major": ("ii", "iii", "IV", "V", "vi"), "minor": ("iv", "v", "VI", "III")}


def _secondaries(chords: list[str], family: str, grammar: Grammar, rng: random.Random) -> list[str]:
    """Now and then the chord before a diatonic target becomes that target's dominant (V7/x)."""
    out = list(chords)
    for index in range(1, len(out)):
        target = split(out[index])[0] if "/" not in out[index] else ""
        if target in TONICIZED[family] and "/" not in out[index - 1] and index - 1 > 0:
            if rng.random() < grammar.secondary:
                out[index - 1] = f"V7/{target}"
    return out


def _moving(chords: list[str], family: str) -> list[str]:
    """A chord struck again at once moves to a relative instead: the harmony keeps moving."""
    out = list(chords)
    for index in range(1, len(out)):
        numeral, suffix = split(out[index])
        if out[index] == out[index - 1] and "/" not in out[index] and numeral in RELATIVES[family]:
            out[index] = RELATIVES[family][numeral][0] + suffix
    return out


def cadence(genre: str, minor: bool, rng: random.Random) -> tuple[str | None, str | None]:
    """(penultimate, last) numerals for a section's end, or (None, None) where loops run on."""
    kinds = GRAMMARS[genre].cadences
    if not kinds:
        return None, None
    return CADENCES["minor" if minor else "major"][rng.choice(kinds)]
