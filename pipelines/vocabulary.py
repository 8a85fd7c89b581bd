"""The musical vocabulary and bounds every part of the farm speaks, and MusicParams, a music request.

A leaf: it imports nothing of the project, so the generator, the brain and the jobs can all share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

GENRES: tuple[str, ...] = ("triphop", "lofi", "house", "ballad", "jazz", "folk", "rock", "ambient", "pop")
MOODS: tuple[str, ...] = (
    "moody", "sad", "happy", "dark", "dreamy", "energetic", "calm", "tense", "fragile", "uplifting",
)
KEYS: tuple[str, ...] = (
    "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B", "Cb",
)
MODES: tuple[str, ...] = (
    "major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "aeolian", "locrian",
)
MODE_ALIASES: dict[str, str] = {"ionian": "major", "maj": "major", "min": "minor"}
ROLES: tuple[str, ...] = ("melody", "chords", "bass", "drums")
# The common signatures the brain may choose; the generator accepts any parse_time_signature reads.
TIME_SIGNATURES: tuple[str, ...] = ("2/4", "3/4", "4/4", "5/4", "6/8", "7/8", "9/8", "12/8")
DENOMINATORS: tuple[int, ...] = (1, 2, 4, 8, 16)
MAX_NUMERATOR = 16


class Bounds(NamedTuple):
    """An inclusive numeric range."""

    low: float
    high: float


TEMPO_BPM = Bounds(20, 300)
BARS = Bounds(1, 512)
ENERGY = Bounds(0, 1)  # also each value of an energy curve
MAX_CURVE = 512
SWING = Bounds(0, 0.5)
HUMANIZE_MS = Bounds(0, 40)


def normalize_key(name: str) -> str | None:
    """The canonical spelling in KEYS of a key name ('d', 'bb', 'F♯'), or None."""
    text = name.strip().replace("♯", "#").replace("♭", "b")
    if not text:
        return None
    text = text[0].upper() + text[1:].lower()
    return text if text in KEYS else None


def normalize_mode(name: str) -> str | None:
    """The canonical mode name ('Minor' -> 'minor', 'ionian' -> 'major'), or None."""
    text = name.strip().lower()
    text = MODE_ALIASES.get(text, text)
    return text if text in MODES else None


def parse_time_signature(text: str) -> tuple[int, int] | None:
    """(numerator, denominator) of '7/8', or None when it is not a usable signature."""
    parts = text.strip().split("/") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        return None
    numerator, denominator = int(parts[0]), int(parts[1])
    if not 1 <= numerator <= MAX_NUMERATOR or denominator not in DENOMINATORS:
        return None
    return numerator, denominator


def _shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _word(name: str, value: Any, allowed: tuple[str, ...],
          normalize: Callable[[str], str | None] | None = None) -> str:
    """The value's spelling in `allowed` (lower case, or as `normalize` spells it)."""
    if not isinstance(value, str):
        word = None
    elif normalize is not None:
        word = normalize(value)
    else:
        word = value.strip().lower()
    if word is None or word not in allowed:
        raise ValueError(f"{name} {_shown(value)} is not one of {', '.join(allowed)}")
    return word


def _number(name: str, value: Any, bounds: Bounds, integer: bool = False) -> float:
    # bool is an int to Python but never a tempo; NaN fails the comparison like any outsider.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    whole = number and (isinstance(value, int) or value.is_integer())
    if not (whole if integer else number) or not bounds.low <= value <= bounds.high:
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name} {_shown(value)} must be {what} between {bounds.low:g} and {bounds.high:g}")
    return value


# The words each field takes, and how a spelling is made canonical (None: lower case).
_WORDS: dict[str, tuple[tuple[str, ...], Callable[[str], str | None] | None]] = {
    "genre": (GENRES, None), "mood": (MOODS, None), "key": (KEYS, normalize_key),
    "mode": (MODES, normalize_mode),
}
_RANGES = {"tempo_bpm": TEMPO_BPM, "energy": ENERGY, "humanize_ms": HUMANIZE_MS}


class MusicParams(BaseModel):
    """What music to make, in the vocabulary above; spellings are normalized ('c#' -> 'C#')."""

    model_config = ConfigDict(extra="forbid")

    genre: str = "triphop"
    mood: str = "moody"
    key: str = "D"
    mode: str = "minor"
    tempo_bpm: float = 90.0
    time_signature: str = "4/4"
    bars: int = 16
    energy: float = 0.5
    energy_curve: list[float] = Field(default_factory=list)
    instrumentation: list[str] = Field(default_factory=lambda: list(ROLES))
    swing: float | None = None  # None: the genre's own swing at this tempo
    humanize_ms: float = 8.0

    # Every check runs before pydantic's coercion, so True is no tempo and '90' no bar count.
    @field_validator("genre", "mood", "key", "mode", mode="before")
    @classmethod
    def _words(cls, value: Any, info: ValidationInfo) -> str:
        allowed, normalize = _WORDS[str(info.field_name)]
        return _word(str(info.field_name), value, allowed, normalize)

    @field_validator("time_signature", mode="before")
    @classmethod
    def _time_signature(cls, value: Any) -> str:
        parsed = parse_time_signature(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError(f"time_signature {_shown(value)} must look like 4/4: numerator "
                             f"1..{MAX_NUMERATOR} over {', '.join(map(str, DENOMINATORS))}")
        return f"{parsed[0]}/{parsed[1]}"

    @field_validator("tempo_bpm", "energy", "humanize_ms", mode="before")
    @classmethod
    def _numbers(cls, value: Any, info: ValidationInfo) -> float:
        return _number(str(info.field_name), value, _RANGES[str(info.field_name)])

    @field_validator("bars", mode="before")
    @classmethod
    def _bars(cls, value: Any) -> int:
        return int(_number("bars", value, BARS, integer=True))

    @field_validator("energy_curve", mode="before")
    @classmethod
    def _curve(cls, value: Any) -> list[float]:
        if not isinstance(value, list | tuple) or len(value) > MAX_CURVE:
            raise ValueError(f"energy_curve {_shown(value)} must be a list of at most {MAX_CURVE} "
                             f"numbers between {ENERGY.low:g} and {ENERGY.high:g}")
        return [_number("energy_curve value", v, ENERGY) for v in value]

    @field_validator("instrumentation", mode="before")
    @classmethod
    def _roles(cls, value: Any) -> list[str]:
        roles = list(value) if isinstance(value, list | tuple) else []
        if not roles or any(r not in ROLES for r in roles) or len(set(roles)) != len(roles):
            raise ValueError(f"instrumentation {_shown(value)} must be distinct roles, at least one, "
                             f"among {', '.join(ROLES)}")
        return roles

    @field_validator("swing", mode="before")
    @classmethod
    def _swing(cls, value: Any) -> float | None:
        return None if value is None else _number("swing", value, SWING)
