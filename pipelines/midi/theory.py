"""Music theory shared by the generators: keys, modes, scales, roman numerals and chord symbols."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.vocabulary import KEYS, normalize_key, normalize_mode

# Keyed by the vocabulary's MODES; a test keeps the two equal.
MODE_STEPS: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}
MINOR_FAMILY = frozenset({"minor", "aeolian", "dorian", "phrygian", "locrian"})

_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Semitones from the relative major's tonic up to the mode's tonic.
_MODE_OFFSET = {
    "major": 0, "dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7,
    "minor": 9, "aeolian": 9, "locrian": 11,
}
_MAJOR_SIGS = {"#": ("C", "G", "D", "A", "E", "B", "F#", "C#"),
               "b": ("C", "F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb")}
_MINOR_SIGS = {"#": ("Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m"),
               "b": ("Am", "Dm", "Gm", "Cm", "Fm", "Bbm", "Ebm", "Abm")}

# Interval sets (semitones above the root, 9ths as 14) to chord-symbol suffixes.
_SUFFIXES = {
    (0, 4, 7): "", (0, 3, 7): "m", (0, 3, 6): "dim", (0, 4, 8): "aug",
    (0, 2, 7): "sus2", (0, 5, 7): "sus4", (0, 4, 6): "b5",
    (0, 4, 7, 11): "maj7", (0, 4, 7, 10): "7", (0, 3, 7, 10): "m7", (0, 3, 6, 10): "m7b5",
    (0, 3, 6, 9): "dim7", (0, 3, 7, 11): "mMaj7", (0, 4, 6, 11): "maj7b5",
    (0, 4, 7, 9): "6", (0, 3, 7, 9): "m6", (0, 5, 7, 10): "7sus4", (0, 2, 7, 10): "7sus2",
    (0, 2, 7, 11): "maj7sus2", (0, 5, 7, 11): "maj7sus4",
    (0, 4, 7, 14): "add9", (0, 3, 7, 14): "madd9", (0, 4, 7, 11, 14): "maj9",
    (0, 4, 7, 10, 14): "9", (0, 3, 7, 10, 14): "m9", (0, 3, 6, 10, 14): "m9b5",
}
_NUMERAL = re.compile(r"^([b#]?)(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(.*)$")
_DEGREES = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7}
CHORD_SUFFIXES = ("", "7", "maj7", "9", "add9", "sus2", "sus4", "6")


def pitch_class(name: str) -> int:
    """The pitch class (0..11) of a key name from KEYS."""
    pc = _NATURALS[name[0]]
    for accidental in name[1:]:
        pc += 1 if accidental == "#" else -1
    return pc % 12


@dataclass(frozen=True)
class Chord:
    """A chord as pitch classes, root first, stacked in thirds; the symbol spells it in the key."""

    root: int
    tones: tuple[int, ...]
    symbol: str


@dataclass(frozen=True)
class Key:
    """A tonic and a mode; knows its scale, its spelling and its key signature."""

    tonic: str
    mode: str

    @classmethod
    def named(cls, tonic: Any, mode: Any) -> Key | None:
        """The key a document names in any spelling ('bb', 'Minor'); None unless both are known."""
        if not isinstance(tonic, str) or not isinstance(mode, str):
            return None
        known_tonic, known_mode = normalize_key(tonic), normalize_mode(mode)
        return cls(known_tonic, known_mode) if known_tonic and known_mode else None

    @property
    def pc(self) -> int:
        return pitch_class(self.tonic)

    @property
    def steps(self) -> tuple[int, ...]:
        return MODE_STEPS[self.mode]

    @property
    def scale(self) -> frozenset[int]:
        return frozenset((self.pc + step) % 12 for step in self.steps)

    @property
    def minor_family(self) -> bool:
        return self.mode in MINOR_FAMILY

    @property
    def _relative_major(self) -> int:
        return (self.pc - _MODE_OFFSET[self.mode]) % 12

    @property
    def uses_flats(self) -> bool:
        if "b" in self.tonic[1:]:
            return True
        if "#" in self.tonic:
            return False
        return (self._relative_major * 7) % 12 > 6

    def spell(self, pc: int) -> str:
        """A pitch class named with the accidentals this key prefers."""
        return (_FLAT_NAMES if self.uses_flats else _SHARP_NAMES)[pc % 12]

    def signature_name(self) -> str:
        """The key-signature name mido accepts ('Dm', 'Bb'); other modes use the relative major."""
        sharps = (self._relative_major * 7) % 12
        flats = (12 - sharps) % 12
        side = "b" if self.uses_flats else "#"
        count = flats if side == "b" else sharps
        if count > 7:
            side, count = ("#", sharps) if side == "b" else ("b", flats)
        if self.mode in ("minor", "aeolian"):
            return _MINOR_SIGS[side][count]
        return _MAJOR_SIGS[side][count]

    def degree_interval(self, degree: int, above: int) -> int:
        """Semitones from scale degree `degree` (0-based) up to the note `above` steps higher."""
        steps = self.steps
        return (steps[(degree + above) % 7] - steps[degree % 7]) % 12


def chord_symbol(key: Key, root: int, intervals: tuple[int, ...]) -> str:
    """A chord symbol like 'Dm7' or 'Bbmaj7' for a root and its intervals."""
    suffix = _SUFFIXES.get(intervals)
    if suffix is None:
        suffix = _SUFFIXES.get(intervals[:3], "")
    return key.spell(root) + suffix


def chord_from_numeral(key: Key, token: str) -> Chord:
    """A chord from a roman numeral relative to the key's mode.

    Unaltered numerals take their quality from the mode (stacked scale thirds), so every mode
    stays in key; only an upper-case V in minor borrows the harmonic-minor leading tone, and a
    flat/sharp numeral (bVII) takes its quality from its case. 'V7/x' (or 'V/x') is the
    secondary dominant of x: a major triad (with a minor seventh) a fifth above x's root.
    """
    if "/" in token:
        return _secondary_dominant(key, token)
    match = _NUMERAL.match(token.strip())
    if match is None or match.group(3) not in CHORD_SUFFIXES:
        raise ValueError(f"bad roman numeral {token!r}")
    accidental, numeral, suffix = match.groups()
    degree = _DEGREES[numeral.lower()] - 1
    shift = {"b": -1, "#": 1, "": 0}[accidental]
    root = (key.pc + key.steps[degree] + shift) % 12
    third, fifth, seventh = (key.degree_interval(degree, n) for n in (2, 4, 6))
    if shift:
        third, fifth = (4, 7) if numeral.isupper() else (3, 7)
        seventh = 10
    elif degree == 4 and numeral.isupper() and key.mode in ("minor", "aeolian"):
        third, seventh = 4, 10
    intervals = _apply_suffix(key, degree, suffix, third, fifth, seventh)
    tones = tuple((root + iv) % 12 for iv in intervals)
    return Chord(root=root, tones=tones, symbol=chord_symbol(key, root, intervals))


def _secondary_dominant(key: Key, token: str) -> Chord:
    dominant, _, target = token.strip().partition("/")
    if dominant not in ("V", "V7"):
        raise ValueError(f"bad roman numeral {token!r}")
    root = (chord_from_numeral(key, target).root + 7) % 12
    intervals = (0, 4, 7, 10) if dominant == "V7" else (0, 4, 7)
    return Chord(root=root, tones=tuple((root + i) % 12 for i in intervals),
                 symbol=chord_symbol(key, root, intervals))


def _apply_suffix(
    key: Key, degree: int, suffix: str, third: int, fifth: int, seventh: int
) -> tuple[int, ...]:
    ninth = key.degree_interval(degree, 1) + 12
    if suffix == "7":
        return (0, third, fifth, seventh)
    if suffix == "maj7":
        return (0, third, fifth, 11)
    if suffix == "9":
        return (0, third, fifth, seventh, ninth)
    if suffix == "add9":
        return (0, third, fifth, ninth)
    if suffix == "sus2":
        return (0, ninth - 12, fifth)
    if suffix == "sus4":
        return (0, key.degree_interval(degree, 3), fifth)
    if suffix == "6":
        return (0, third, fifth, key.degree_interval(degree, 5))
    return (0, third, fifth)


def nearest_pitch(pc: int, target: int) -> int:
    """The MIDI pitch with pitch class `pc` closest to `target` (ties go down)."""
    below = target - ((target - pc) % 12)
    return below if target - below <= below + 12 - target else below + 12


_SUFFIX_INTERVALS = {suffix: intervals for intervals, suffix in reversed(_SUFFIXES.items())}


def chord_pitch_classes(symbol: str) -> frozenset[int]:
    """Pitch classes of a chord symbol this module writes ('Bbmaj7'); empty if unknown."""
    for size in (2, 1):
        root_name, suffix = symbol[:size], symbol[size:]
        if root_name in KEYS and suffix in _SUFFIX_INTERVALS:
            root = pitch_class(root_name)
            return frozenset((root + iv) % 12 for iv in _SUFFIX_INTERVALS[suffix])
    return frozenset()
