"""The report card of a piece: per-part statistics, musical metrics, and checks against bands
measured on real music. Works on canonical JSON (report_music) and on any MIDI file
(report_midi); `python -m pipelines.midi.report FILE.mid [--json]` prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError
from pipelines.midi.bands import check_bands, inside_fraction, load_bands
from pipelines.midi.canonical import midi_to_music, song_ticks
from pipelines.midi.card import BANDED, card_metrics
from pipelines.midi.theory import Key


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


def report_music(music: dict[str, Any], bands: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report card: the basic figures, the metrics, per-part metrics, memorization figures
    and the band checks with a warning per metric outside its band. Deterministic and
    JSON-serializable; `bands` defaults to pipelines/midi/bands.json."""
    bands = load_bands() if bands is None else bands
    card = card_metrics(music, bands.get("progression_table", {}))
    checks, warnings = check_bands(card["metrics"], bands)
    # The chord-tone ratio is what sounds (metrics_harmony): the card's headline figure too.
    return {**basic_report(music), "chord_tone_ratio": card["metrics"]["chord_tone_ratio"], **card,
            "bands": checks, "warnings": warnings, "bands_inside_fraction": inside_fraction(checks)}


def report_midi(data: bytes, bands: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report card of any Standard MIDI File; BadMidiFile when the bytes are not one."""
    return report_music(midi_to_music(data), bands)


def basic_report(music: dict[str, Any]) -> dict[str, Any]:
    """Per-role note statistics and whole-piece figures (the card's first keys)."""
    roles: dict[str, list[dict[str, int]]] = {}
    for track in music["tracks"]:
        roles.setdefault(track["role"], []).extend(track["notes"])
    key = Key.named(music.get("key"), music.get("mode"))
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
        "key": music.get("key"),
        "mode": music.get("mode"),
    }


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def format_card(report: dict[str, Any]) -> str:
    """The card as text: one line per metric with its band and whether it sits inside."""
    lines = [f"key {report['analysis_key'] or '-'} (estimated {report['estimated_key'] or '-'}), "
             f"{report['bars']} bars, {report['duration_s']} s, {report['notes_total']} notes"]
    for name in BANDED:
        check = report["bands"].get(name)
        band = "" if check is None else f"[{_fmt(check['band'][0])}, {_fmt(check['band'][1])}]"
        mark = {True: "ok", False: "OUT", None: ""}[None if check is None else check["inside"]]
        lines.append(f"  {name:26} {_fmt(report['metrics'][name]):>8}  {band:20} {mark}")
    for name, value in report["memorization"].items():
        lines.append(f"  {name:26} {_fmt(value):>8}  (memorization, no band)")
    lines.append(f"inside bands: {_fmt(report['bands_inside_fraction'])}")
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the report card of a MIDI file; a bad file is one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.midi.report",
                                     description="Report card of a MIDI file.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--json", action="store_true", help="print the card as JSON")
    args = parser.parse_args(argv)
    try:
        report = report_midi(args.file.read_bytes())
    except OSError as exc:
        print(f"farm: error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except PipelineError as exc:
        print(f"farm: error: {args.file}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, sort_keys=True, indent=1) if args.json else format_card(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
