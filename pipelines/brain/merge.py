"""How the hybrid brain splits the work between the rules and a model's answer.

The words win: stated facts and implied cues are pinned. The model reads what the rules cannot
(a "lullaby", "spa music"), so it chooses genre and mood when the text names neither. Numbers
and theory (tempo, key, mode, meter, bars, energy) follow the rules' conventions for the final
genre and mood: a small model guesses numbers badly. The model keeps the creative fields.
"""

from __future__ import annotations

from typing import Any

from pipelines.brain.defaults import rules_defaults
from pipelines.brain.schema import repair_fields, repair_value

# Fields a model's answer fills whenever the words leave them open.
MODEL_FIELDS = ("instrumentation", "sections", "energy_curve", "vocal_character", "image_prompt",
                "audio_texture_prompt", "explanation", "rule_breaking")
# Chosen by the model only when the text has no word for either of them.
MODEL_CATEGORIES = ("genre", "mood")


def level_curve(curve: list[float], energy: float) -> list[float]:
    """The curve's shape moved so its mean is `energy`: the model shapes, the rules set the level."""
    shift = energy - sum(curve) / len(curve)
    return [round(min(1.0, max(0.0, value + shift)), 2) for value in curve]


def merge_answer(text: str, raw: dict[str, Any], words: dict[str, Any]) -> tuple[dict[str, Any],
                                                                                     list[str]]:
    """The hybrid intent's fields from a model's raw answer and what the words settle
    (facts and hints); also the fields where the model's value was unusable."""
    chosen: dict[str, Any] = {}
    if not any(name in words for name in MODEL_CATEGORIES):
        chosen = {name: value for name in MODEL_CATEGORIES
                  if (value := repair_value(name, raw.get(name))) is not None}
    conventions = rules_defaults(text, chosen)
    proposed = {name: raw[name] for name in MODEL_FIELDS if name in raw}
    fields, fell_back = repair_fields({**conventions, **proposed, **words}, conventions)
    if "energy_curve" not in words:
        fields["energy_curve"] = level_curve(fields["energy_curve"], fields["energy"])
    return fields, fell_back
