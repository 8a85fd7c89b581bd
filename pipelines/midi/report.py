"""A first report card of a piece: per-role note statistics, key fit and chord fit."""

from __future__ import annotations

import statistics
from typing import Any

from pipelines.midi.theory import MODE_STEPS, PITCH_CLASSES


def report_music(music: dict[str, Any]) -> dict[str, Any]:
    ppq = music["ppq"]
    tempo = music["tempo_map"][0]["us_per_beat"] if music["tempo_map"] else 500_000
    end = max((n["tick"] + n["duration"] for t in music["tracks"] for n in t["notes"]), default=0)
    tracks = {t["role"]: _track_stats(t["notes"]) for t in music["tracks"]}
    pitched = [n for t in music["tracks"] if t["role"] != "drums" for n in t["notes"]]
    report: dict[str, Any] = {
        "duration_s": round(end / ppq * tempo / 1_000_000, 3),
        "bars": music.get("bars"),
        "notes_total": sum(len(t["notes"]) for t in music["tracks"]),
        "tracks": tracks,
    }
    if music.get("key") in PITCH_CLASSES and music.get("mode") in MODE_STEPS:
        tonic, steps = PITCH_CLASSES[music["key"]], MODE_STEPS[music["mode"]]
        scale = {(tonic + s) % 12 for s in steps}
        report["in_key_ratio"] = _ratio(sum(n["pitch"] % 12 in scale for n in pitched), len(pitched))
    melody: list[dict[str, int]] = next((t["notes"] for t in music["tracks"] if t["role"] == "melody"), [])
    if melody and music.get("chords"):
        report["chord_tone_ratio"] = _chord_tone_ratio(melody, music["chords"], ppq)
    return report


def _track_stats(notes: list[dict[str, int]]) -> dict[str, Any]:
    if not notes:
        return {"notes": 0}
    velocities = [n["velocity"] for n in notes]
    return {
        "notes": len(notes),
        "pitch_min": min(n["pitch"] for n in notes),
        "pitch_max": max(n["pitch"] for n in notes),
        "velocity_mean": round(statistics.fmean(velocities), 2),
        "velocity_std": round(statistics.pstdev(velocities), 2),
    }


def _chord_tone_ratio(melody: list[dict[str, int]], chords: list[dict[str, Any]], ppq: int) -> float:
    """Share of melody notes on a beat whose pitch class belongs to the chord sounding then."""
    hits = total = 0
    for n in melody:
        if n["tick"] % ppq > ppq // 8 and ppq - n["tick"] % ppq > ppq // 8:
            continue  # off the beat (humanized onsets count as on it)
        chord = next((c for c in chords if c["tick"] <= n["tick"] < c["tick"] + c["duration"]), None)
        if chord is None:
            continue
        total += 1
        hits += n["pitch"] % 12 in chord["pcs"]
    return _ratio(hits, total)


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
