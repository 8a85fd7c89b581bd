"""The report card's metrics for one piece: overall, per part, and the memorization figures.

Every metric is defined in metrics_pitch, metrics_harmony, metrics_rhythm or metrics_timing, with
its source.
"""

from __future__ import annotations

from typing import Any

from pipelines.midi import metrics_pitch as mp
from pipelines.midi import metrics_rhythm as mr
from pipelines.midi import metrics_timing as mt
from pipelines.midi.metrics_harmony import harmony_metrics
from pipelines.midi.piece import PITCHED_ROLES, Piece, make_piece, melody_line

# The metrics checked against reference bands, in the order the card prints them.
BANDED = (
    "pitch_class_entropy", "scale_consistency", "key_correlation", "in_key_ratio",
    "melody_step_ratio", "melody_range", "motif_reuse", "contour_repetition",
    "melodic_rhythm_repetition", "chord_tone_ratio", "harmony_tone_ratio", "harmonic_rhythm",
    "progression_plausibility",
    "groove_consistency", "syncopation", "empty_beat_rate", "swing_ratio",
    "onset_jitter_ms", "timing_drift_corr", "velocity_spread",
    "drum_hit_density", "drum_groove_consistency", "drum_on_grid",
)
MEMORIZATION = ("progression_template_overlap", "drum_template_overlap")


def _round(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return round(float(value), 4)


def _part_metrics(piece: Piece, role: str) -> dict[str, Any]:
    notes = piece.parts[role]
    figures: dict[str, Any] = {
        "groove_consistency": mr.groove_consistency(piece, notes),
        "velocity_spread": mr.velocity_spread(notes),
        "onset_jitter_ms": mr.onset_jitter_ms(piece, [notes]),
        "timing_drift_corr": mr.timing_drift_corr(piece, [notes]),
    }
    if role == "drums":
        figures["drum_hit_density"] = mr.drum_hit_density(piece, notes)
    else:
        figures["pitch_class_entropy"] = mp.pitch_class_entropy(notes)
        figures["scale_consistency"] = mp.scale_consistency(notes)
    return {name: _round(value) for name, value in sorted(figures.items())}


def card_metrics(music: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    """Overall metrics, per-part metrics, memorization figures and the key they were read in."""
    piece = make_piece(music)
    pitched = piece.pitched
    estimated = mp.estimate_key(pitched)
    key = piece.key or (estimated[0] if estimated else None)
    line = melody_line(piece.parts.get("melody", []), piece.ppq)
    drums = piece.parts.get("drums", [])
    parts = [piece.parts[r] for r in (*PITCHED_ROLES, "drums") if r in piece.parts]
    everything = [n for notes in parts for n in notes]
    harmony = harmony_metrics(piece, line, key, table)
    metrics: dict[str, Any] = {
        "pitch_class_entropy": mp.pitch_class_entropy(pitched),
        "scale_consistency": mp.scale_consistency(pitched),
        "key_correlation": estimated[1] if estimated else None,
        "in_key_ratio": mp.in_key_ratio(pitched, key),
        "melody_step_ratio": mp.melody_step_ratio(line),
        "melody_range": mp.melody_range(line),
        "motif_reuse": mp.motif_reuse(line),
        "contour_repetition": mp.contour_repetition(line),
        "melodic_rhythm_repetition": mt.melodic_rhythm_repetition(piece, line),
        "chord_tone_ratio": harmony["chord_tone_ratio"],
        "harmony_tone_ratio": harmony["harmony_tone_ratio"],
        "harmonic_rhythm": harmony["harmonic_rhythm"],
        "progression_plausibility": harmony["progression_plausibility"],
        "groove_consistency": mr.groove_consistency(piece, everything),
        "syncopation": mr.syncopation(piece, line),
        "empty_beat_rate": mr.empty_beat_rate(piece, everything),
        "swing_ratio": mr.swing_ratio(piece, parts),
        "onset_jitter_ms": mr.onset_jitter_ms(piece, parts),
        "timing_drift_corr": mr.timing_drift_corr(piece, parts),
        "velocity_spread": _mean_spread(piece),
        "drum_hit_density": mr.drum_hit_density(piece, drums),
        "drum_groove_consistency": mr.groove_consistency(piece, drums) if drums else None,
        "drum_on_grid": mt.drum_on_grid(piece, drums),
    }
    return {
        "metrics": {name: _round(metrics[name]) for name in BANDED},
        "parts": {role: _part_metrics(piece, role) for role in sorted(piece.parts)},
        "memorization": {
            "progression_template_overlap": _round(harmony["progression_template_overlap"]),
            "drum_template_overlap": _round(mr.drum_template_overlap(piece, drums)),
        },
        "analysis_key": None if key is None else f"{key.tonic} {key.mode}",
        "estimated_key": None if estimated is None else f"{estimated[0].tonic} {estimated[0].mode}",
    }


def _mean_spread(piece: Piece) -> float | None:
    spreads = [s for s in (mr.velocity_spread(notes) for notes in piece.parts.values()) if s is not None]
    return sum(spreads) / len(spreads) if spreads else None
