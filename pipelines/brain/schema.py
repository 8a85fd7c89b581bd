"""MusicIntent, the structured form of a musician's request, and the JSON schema a model fills.

energy_curve holds one value per section (same length as sections); midi_params() spreads it
over the bars, so the MIDI generator follows the sections exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.brain.defaults import default_sections, rules_defaults, shaped_curve
from pipelines.brain.words import GENRE_NAMES, MOOD_WORDS
from pipelines.vocabulary import (
    BARS,
    ENERGY,
    GENRES,
    KEYS,
    MODES,
    MOODS,
    ROLES,
    TEMPO_BPM,
    TIME_SIGNATURES,
    normalize_key,
    normalize_mode,
)

SECTION_NAMES: tuple[str, ...] = ("intro", "verse", "chorus", "bridge", "breakdown", "drop", "outro")
MAX_SECTIONS = 8
TEXT_LIMITS = {"vocal_character": 60, "image_prompt": 200, "audio_texture_prompt": 200,
               "explanation": 200}
RULE_BREAKING_MAX = (3, 80)  # items, characters each
# Shorter limits while generating keep a small model's answer (and its token count) short.
GENERATION_TEXT_LIMITS = {"vocal_character": 30, "image_prompt": 60, "audio_texture_prompt": 48,
                          "explanation": 60}
GENERATION_MAX_SECTIONS = 4
MIDI_PARAM_KEYS = ("genre", "mood", "key", "mode", "tempo_bpm", "time_signature", "bars", "energy",
                   "energy_curve", "instrumentation")

Energy = Annotated[float, Field(ge=ENERGY.low, le=ENERGY.high)]


def _member(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


class SectionPlan(BaseModel):
    """A named run of bars."""

    model_config = ConfigDict(extra="forbid")

    name: str
    bars: int = Field(ge=BARS.low, le=BARS.high)

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        return _member("section name", value, SECTION_NAMES)


class MusicIntent(BaseModel):
    """Everything the studio graph needs from an intent; values are in pipelines.vocabulary."""

    model_config = ConfigDict(extra="forbid")

    genre: str
    mood: str
    tempo_bpm: float = Field(ge=TEMPO_BPM.low, le=TEMPO_BPM.high)
    key: str
    mode: str
    time_signature: str
    bars: int = Field(ge=BARS.low, le=BARS.high)
    sections: list[SectionPlan] = Field(min_length=1, max_length=MAX_SECTIONS)
    instrumentation: list[str] = Field(min_length=1, max_length=len(ROLES))
    energy: Energy
    energy_curve: list[Energy] = Field(min_length=1, max_length=MAX_SECTIONS)
    vocal_character: str = Field(max_length=TEXT_LIMITS["vocal_character"])
    image_prompt: str = Field(max_length=TEXT_LIMITS["image_prompt"])
    audio_texture_prompt: str = Field(max_length=TEXT_LIMITS["audio_texture_prompt"])
    explanation: str = Field(max_length=TEXT_LIMITS["explanation"])
    rule_breaking: list[Annotated[str, Field(max_length=RULE_BREAKING_MAX[1])]] = Field(
        default_factory=list, max_length=RULE_BREAKING_MAX[0])

    @field_validator("genre")
    @classmethod
    def _genre(cls, value: str) -> str:
        return _member("genre", value, GENRES)

    @field_validator("mood")
    @classmethod
    def _mood(cls, value: str) -> str:
        return _member("mood", value, MOODS)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _member("key", value, KEYS)

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        return _member("mode", value, MODES)

    @field_validator("time_signature")
    @classmethod
    def _meter(cls, value: str) -> str:
        return _member("time_signature", value, TIME_SIGNATURES)

    @field_validator("instrumentation")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or any(role not in ROLES for role in value):
            raise ValueError(f"instrumentation {value!r} must be distinct roles among {ROLES}")
        return value

    @model_validator(mode="after")
    def _sections_fit(self) -> MusicIntent:
        if sum(s.bars for s in self.sections) != self.bars:
            raise ValueError(f"section bars sum to {sum(s.bars for s in self.sections)}, "
                             f"not bars={self.bars}")
        if len(self.energy_curve) != len(self.sections):
            raise ValueError("energy_curve needs one value per section")
        return self

    def midi_params(self) -> dict[str, Any]:
        """Params of a `midi` job (pipelines.vocabulary.MusicParams); the curve is one value a bar."""
        per_bar = [value for section, value in zip(self.sections, self.energy_curve, strict=True)
                   for _ in range(section.bars)]
        params = self.model_dump(include=set(MIDI_PARAM_KEYS))
        params["energy_curve"] = per_bar
        return {name: params[name] for name in MIDI_PARAM_KEYS}


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit}


def intent_json_schema(facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema a model fills, in the order it writes; stated facts become constants.

    Categorical fields are enums; texts and lists have short limits. Numeric bounds are stated
    but grammars may ignore them, so clamp_intent repairs numbers after generation.
    """
    properties: dict[str, Any] = {
        "explanation": _text(GENERATION_TEXT_LIMITS["explanation"]),
        "genre": {"type": "string", "enum": list(GENRES)},
        "mood": {"type": "string", "enum": list(MOODS)},
        "tempo_bpm": {"type": "integer", "minimum": 40, "maximum": 220},
        "key": {"type": "string", "enum": list(KEYS)},
        "mode": {"type": "string", "enum": list(MODES)},
        "time_signature": {"type": "string", "enum": list(TIME_SIGNATURES)},
        "bars": {"type": "integer", "minimum": 4, "maximum": 128},
        "energy": {"type": "number", "minimum": 0, "maximum": 1},
        "instrumentation": {"type": "array", "items": {"type": "string", "enum": list(ROLES)},
                            "minItems": 1, "maxItems": len(ROLES)},
        "sections": {"type": "array", "minItems": 1, "maxItems": GENERATION_MAX_SECTIONS, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "bars"],
            "properties": {"name": {"type": "string", "enum": list(SECTION_NAMES)},
                           "bars": {"type": "integer", "minimum": 1, "maximum": 64}}}},
        "energy_curve": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1},
                         "minItems": 1, "maxItems": GENERATION_MAX_SECTIONS},
        **{name: _text(limit) for name, limit in GENERATION_TEXT_LIMITS.items()
           if name != "explanation"},
        "rule_breaking": {"type": "array", "items": _text(48), "maxItems": 1},
    }
    for name, value in (facts or {}).items():
        if name in properties:
            exact = int(value) if isinstance(value, float) and value.is_integer() else value
            properties[name] = {"const": exact}
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(properties)}


def _number(value: Any) -> float | None:
    """A finite number from a number or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clamped(low: float, high: float) -> Callable[[Any], float | None]:
    def clamp(value: Any) -> float | None:
        number = _number(value)
        return None if number is None else round(min(high, max(low, number)), 2)
    return clamp


def _word(table: dict[str, str], allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    def pick(value: Any) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else ""
        found = table.get(text, text)
        return found if found in allowed else None
    return pick


def _roles(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    chosen = [role for role in ROLES if role in value]
    return chosen or None


def _trimmed(limit: int) -> Callable[[Any], str | None]:
    def trim(value: Any) -> str | None:
        text = " ".join(value.split())[:limit] if isinstance(value, str) else ""
        return text or None  # an empty text falls back like a missing one
    return trim


def _rule_breaking(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    items, limit = RULE_BREAKING_MAX[0], RULE_BREAKING_MAX[1]
    return [" ".join(v.split())[:limit] for v in value if isinstance(v, str) and v.strip()][:items]


def _bars(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(min(BARS.high, max(BARS.low, round(number))))


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "genre": _word(GENRE_NAMES, GENRES), "mood": _word(MOOD_WORDS, MOODS),
    "tempo_bpm": _clamped(*TEMPO_BPM),
    "key": lambda v: normalize_key(v) if isinstance(v, str) else None,
    "mode": lambda v: normalize_mode(v) if isinstance(v, str) else None,
    "time_signature": lambda v: v.strip() if isinstance(v, str) and v.strip() in TIME_SIGNATURES
    else None,
    "bars": _bars, "energy": _clamped(*ENERGY), "instrumentation": _roles,
    **{name: _trimmed(limit) for name, limit in TEXT_LIMITS.items()},
    "rule_breaking": _rule_breaking,
}


def repair_value(name: str, value: Any) -> Any:
    """One scalar or list field clamped or normalized ("Trip-Hop" -> "triphop"), else None."""
    return None if value is None else _SCALARS[name](value)


def fit_sections(value: Any, bars: int) -> list[dict[str, Any]] | None:
    """Valid sections rescaled so their bars sum to `bars`; None when nothing usable is there."""
    if not isinstance(value, list):
        return None
    usable = [s for s in value if isinstance(s, dict)][:min(MAX_SECTIONS, bars)]
    names = [s.get("name") if s.get("name") in SECTION_NAMES else "verse" for s in usable]
    sizes = [_bars(s.get("bars")) or 0 for s in usable]
    total = sum(sizes)
    if not sizes or total <= 0:
        return None
    if total != bars:
        # Proportional shares, at least a bar each; the last section takes up the remainder.
        sizes = [max(1, round(size * bars / total)) for size in sizes]
        while sum(sizes) > bars:
            sizes[sizes.index(max(sizes))] -= 1
        sizes[-1] += bars - sum(sizes)
    return [{"name": name, "bars": size} for name, size in zip(names, sizes, strict=True)]


def resample(values: list[float], count: int) -> list[float]:
    """values stretched or squeezed to `count` points by linear interpolation."""
    if len(values) == count:
        return values
    if len(values) == 1:
        return values * count
    out = []
    for index in range(count):
        position = index * (len(values) - 1) / max(1, count - 1)
        low = int(position)
        high = min(low + 1, len(values) - 1)
        out.append(round(values[low] + (values[high] - values[low]) * (position - low), 2))
    return out


def _curve(value: Any, count: int) -> list[float] | None:
    if not isinstance(value, list):
        return None
    numbers = [n for n in map(_number, value) if n is not None]
    return resample([round(min(1.0, max(0.0, n)), 2) for n in numbers], count) if numbers else None


def repair_fields(raw: dict[str, Any], fallback: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each field clamped or repaired, else taken from fallback; also the names that fell back."""
    fields: dict[str, Any] = {}
    fell_back: list[str] = []
    for name, repair in _SCALARS.items():
        value = repair(raw[name]) if name in raw else None
        if value is None:
            value = fallback[name]
            fell_back += [name] if name in raw else []
        fields[name] = value
    sections = fit_sections(raw.get("sections"), fields["bars"])
    if sections is None:
        sections = fit_sections(fallback["sections"], fields["bars"]) or default_sections(fields["bars"])
        fell_back += ["sections"] if "sections" in raw else []
    fields["sections"] = sections
    curve = _curve(raw.get("energy_curve"), len(sections))
    if curve is None:
        curve = _curve(fallback["energy_curve"], len(sections)) or shaped_curve(
            sections, fields["energy"], None)
        fell_back += ["energy_curve"] if "energy_curve" in raw else []
    fields["energy_curve"] = curve
    return fields, fell_back


def clamp_intent(raw: dict[str, Any], fallback: dict[str, Any] | None = None,
                 text: str = "") -> MusicIntent:
    """A valid MusicIntent from a model's raw JSON: numbers clamped, lists fitted, bad fields
    replaced by the fallback (rules_defaults(text) unless given). Unknown keys are dropped."""
    fields, _ = repair_fields(raw, fallback if fallback is not None else rules_defaults(text))
    return MusicIntent.model_validate(fields)
