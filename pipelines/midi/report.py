"""A basic report card of a piece in canonical JSON: per-part statistics, key and chord fit."""

from __future__ import annotations

import bisect
import statistics
from typing import Any

from pipelines.midi.canonical import song_ticks
from pipelines.midi.meter import Meter
from pipelines.midi.theory import Key, chord_pitch_classes, normalize_key, normalize_mode


def _part_stats(notes: list[dict[str, int]]) -> dict[str, Any]:
    velocities = [n["velocity"] for n in notes]
    pitches = [n["pitch"] for n in notes]
    return {
        "notes": len(notes),
        "pitch_min": min(pitches, default=None),
        "pitch_max": max(pitches, default=None),
        "velocity_mean": round(statistics.fmean(velocities), 3) if velocities else None,
        "velocity_std": round(statistics.pstdev(velocities), 3) if velocities else None,
    }


def _duration_s(music: dict[str, Any], end: int) -> float:
    """Seconds from tick 0 to `end`, following the tempo map."""
    ppq, seconds = music["ppq"], 0.0
    tempos = sorted(music["tempo_map"], key=lambda e: e["tick"]) or [
        {"tick": 0, "us_per_beat": 500_000}]
    for index, entry in enumerate(tempos):
        if entry["tick"] >= end:
            break
        stop = tempos[index + 1]["tick"] if index + 1 < len(tempos) else end
        seconds += (min(stop, end) - entry["tick"]) * entry["us_per_beat"] / ppq / 1e6
    return round(seconds, 3)


def _key(music: dict[str, Any]) -> Key | None:
    key, mode = music.get("key"), music.get("mode")
    if not isinstance(key, str) or not isinstance(mode, str):
        return None
    tonic, canonical_mode = normalize_key(key), normalize_mode(mode)
    return Key(tonic, canonical_mode) if tonic and canonical_mode else None


def _strong_beats(music: dict[str, Any], tick: int) -> tuple[bool, int]:
    """Whether `tick` is within a 32nd of a felt beat (humanized timing), and that beat."""
    ppq = music["ppq"]
    sigs = sorted(music["time_signature_map"], key=lambda s: s["tick"]) or [
        {"tick": 0, "numerator": 4, "denominator": 4}]
    earlier = [s for s in sigs if s["tick"] <= tick]
    sig = earlier[-1] if earlier else sigs[0]
    meter = Meter(sig["numerator"], sig["denominator"])
    scale = ppq / 480
    bar = round(meter.ticks_per_bar * scale)
    offset = (tick - sig["tick"]) % bar
    for start in [*meter.strong_offsets(), meter.ticks_per_bar]:
        beat = round(start * scale)
        if abs(offset - beat) <= ppq // 8:
            return True, tick - offset + beat
    return False, tick


def _chord_tone_ratio(music: dict[str, Any]) -> float | None:
    chords = sorted(music.get("chords") or [], key=lambda c: c["tick"])
    melody = [n for t in music["tracks"] if t["role"] == "melody" for n in t["notes"]]
    key = _key(music)
    if not chords or not melody or key is None:
        return None
    starts = [c["tick"] for c in chords]
    hits = total = 0
    for note in melody:
        strong, beat = _strong_beats(music, note["tick"])
        chord = chords[max(0, bisect.bisect_right(starts, beat) - 1)]
        if not strong or not chord["tick"] <= beat < chord["tick"] + chord["duration"]:
            continue
        total += 1
        hits += note["pitch"] % 12 in chord_pitch_classes(chord["symbol"])
    return round(hits / total, 4) if total else None


def report_music(music: dict[str, Any]) -> dict[str, Any]:
    """Per-role note statistics and whole-piece figures; JSON-serializable and deterministic."""
    roles: dict[str, list[dict[str, int]]] = {}
    for track in music["tracks"]:
        roles.setdefault(track["role"], []).extend(track["notes"])
    key = _key(music)
    pitched = [n for role, notes in roles.items() if role != "drums" for n in notes]
    in_key = None
    if key is not None and pitched:
        in_key = round(sum(n["pitch"] % 12 in key.scale for n in pitched) / len(pitched), 4)
    last = max((n["tick"] + n["duration"] for notes in roles.values() for n in notes), default=0)
    bars = music.get("bars")
    end = song_ticks(music["time_signature_map"], music["ppq"], bars) if bars else last
    return {
        "tracks": {role: _part_stats(notes) for role, notes in sorted(roles.items())},
        "bars": bars,
        "duration_s": _duration_s(music, max(end, last)),
        "notes_total": sum(len(notes) for notes in roles.values()),
        "in_key_ratio": in_key,
        "chord_tone_ratio": _chord_tone_ratio(music),
        "key": music.get("key"),
        "mode": music.get("mode"),
    }
