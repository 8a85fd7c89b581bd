"""Regenerate pipelines/midi/bands.json from real music in music21's corpus.

    python -m pipelines.midi.make_bands [--out PATH]

A fixed, deterministic subset: the first 200 Bach chorales in Riemenschneider order (even
positions give bands, odd positions give the chord-transition table that progression
plausibility reads, so that metric is banded on chorales it was not counted from) and 25
evenly spaced songs from each of four Essen folk-song collections. Each piece is written to a
Standard MIDI File and read back through report_midi, exactly as any other file would be.
A band is the central 95% (2.5th to 97.5th percentile) of the per-piece values. Metrics no
offline corpus can measure (drums, swing, performed timing and dynamics) take documented
musical reasoning instead, and say so in their `source`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from pipelines.midi.bands import BANDS_PATH
from pipelines.midi.canonical import FORMAT, music_to_midi, song_ticks, tempo_entry
from pipelines.midi.card import BANDED
from pipelines.midi.metrics_harmony import count_transitions, estimate_chords, labels
from pipelines.midi.metrics_pitch import estimate_key
from pipelines.midi.piece import make_piece
from pipelines.midi.report import report_midi

PPQ = 480
CHORALES = 200
FOLK_FILES = ("essenFolksong/altdeu10", "essenFolksong/ballad10", "essenFolksong/erk10",
              "essenFolksong/kinder0")
FOLK_PER_FILE = 25
BOTH, CHORALES_ONLY = ("chorales", "folk"), ("chorales",)
# Which corpus measures which metric: folk songs are single lines, so harmony is chorales' alone.
CORPUS_SOURCES = {
    "pitch_class_entropy": BOTH, "scale_consistency": BOTH, "key_correlation": BOTH,
    "in_key_ratio": BOTH, "melody_step_ratio": BOTH, "melody_range": BOTH, "motif_reuse": BOTH,
    "contour_repetition": BOTH, "harmony_tone_ratio": CHORALES_ONLY,
    "harmonic_rhythm": CHORALES_ONLY, "progression_plausibility": CHORALES_ONLY,
    "groove_consistency": BOTH, "syncopation": BOTH, "empty_beat_rate": BOTH,
    "melodic_rhythm_repetition": BOTH, "chord_tone_ratio": CHORALES_ONLY,
}
# Chorales change chord on nearly every beat, popular styles far less often: the band joins the
# chorale band with the popular-music span of one chord per two bars to two chords per bar.
WIDENED = {"harmonic_rhythm": ((0.5, 2.0), "joined with 0.5-2 chords per bar, the usual harmonic "
                               "rhythm of popular styles (one chord per two bars to two per bar)")}
REASONED: dict[str, tuple[tuple[float, float], str]] = {
    "swing_ratio": ((0.9, 3.5), "reasoning: eighth-pair ratios run from straight 1:1 at fast tempi "
                    "to about 3.5:1 at slow ones (Friberg & Sundstroem, Music Perception 2002); "
                    "below 0.9 the offbeat comes early. The corpora are straight (1.0)."),
    "onset_jitter_ms": ((0.0, 25.0), "reasoning: 0 for quantized music (every corpus piece); "
                        "expressive and ensemble timing deviations of skilled players stay "
                        "mostly within 10-30 ms (Rasch 1979; Repp 1999); a median beyond 25 ms "
                        "sounds sloppy rather than human"),
    "timing_drift_corr": ((0.1, 1.0), "reasoning: human timing fluctuations are long-range "
                          "correlated, 1/f-like (Hennig et al., PLoS ONE 2011), so successive "
                          "deviations correlate clearly; white jitter gives about 0. Quantized "
                          "pieces have no deviations and are not judged"),
    "velocity_spread": ((0.0, 20.0), "reasoning: 0 for unperformed scores (every corpus piece "
                        "here); a player's velocities within one part spread by some 5-15 steps; "
                        "beyond 20 the dynamics are erratic"),
    "drum_hit_density": ((0.25, 6.0), "reasoning: from one hit per 4/4 bar (a sparse ambient "
                         "pulse) to sixteenth hats with kick and snare, about 5-6 hits per quarter; "
                         "no offline corpus has drums"),
    "drum_groove_consistency": ((0.75, 1.0), "reasoning: a groove repeats bar to bar; a fill or "
                                "variation every fourth bar changes at most about a quarter of the "
                                "sixteenth grid on average; no offline corpus has drums"),
    "drum_on_grid": ((0.85, 1.0), "reasoning: onsets within 15 ms of the (swung) grid are heard as "
                     "in time (order threshold near 20 ms, Hirsh 1959); a drummer's hits mostly sit "
                     "within that, with a few pushed or dragged on purpose; when more than about one "
                     "in seven sits further off, the groove sounds loose. No offline corpus has drums"),
}


def _notes_of(part: Any, pad: Fraction) -> list[dict[str, int]]:
    notes = []
    for element in part.flatten().notes:
        length = Fraction(element.quarterLength)
        if length <= 0:
            continue  # grace notes take no time
        tick = round((Fraction(element.offset) + pad) * PPQ)
        for pitch in element.pitches:
            notes.append({"tick": tick, "duration": max(1, round(length * PPQ)),
                          "pitch": int(pitch.midi), "velocity": 80})
    return sorted(notes, key=lambda n: (n["tick"], n["pitch"]))


def score_to_music(score: Any) -> dict[str, Any]:
    """A music21 score as canonical JSON; a pickup bar is padded so bar lines fall where printed."""
    score = score.stripTies()
    first = score.parts[0].getElementsByClass("Measure")
    pad = Fraction(first[0].paddingLeft) if first else Fraction(0)
    signatures: dict[int, tuple[int, int]] = {}
    for sig in score.parts[0].flatten().getElementsByClass("TimeSignature"):
        signatures[round((Fraction(sig.offset) + pad) * PPQ) if sig.offset else 0] = (
            sig.numerator, sig.denominator)
    tracks: list[dict[str, Any]] = [
        {"name": part.partName or f"part {i + 1}", "role": "other", "channel": i, "program": 0,
         "notes": _notes_of(part, pad)} for i, part in enumerate(score.parts)]
    if signatures and 0 not in signatures:
        signatures[0] = signatures[min(signatures)]  # a signature first set after the start held from it
    sig_map = [{"tick": t, "numerator": n, "denominator": d}
               for t, (n, d) in sorted(signatures.items())] or [
        {"tick": 0, "numerator": 4, "denominator": 4}]
    end = max((n["tick"] + n["duration"] for t in tracks for n in t["notes"]), default=0)
    bars = 0
    while song_ticks(sig_map, PPQ, bars) < end:
        bars += 1
    return {
        "format": FORMAT, "ppq": PPQ, "key": None, "mode": None, "genre": None, "mood": None,
        "seed": None, "bars": bars, "sections": [], "chords": [],
        "tempo_map": [tempo_entry(0, 500_000)],
        "time_signature_map": sig_map,
        "tracks": [t for t in tracks if t["notes"]],
    }


def load_corpus() -> dict[str, list[bytes]]:
    """MIDI bytes of the fixed subset: chorale band set, chorale table set, folk songs."""
    from music21 import corpus

    names = list(corpus.chorales.Iterator(numberingSystem="riemenschneider",
                                          returnType="filename"))[:CHORALES]
    chorales = [music_to_midi(score_to_music(corpus.parse(name))) for name in names]
    folk = []
    for name in FOLK_FILES:
        scores = list(corpus.parse(name).scores)
        step = len(scores) / FOLK_PER_FILE
        for i in range(FOLK_PER_FILE):
            folk.append(music_to_midi(score_to_music(scores[int(i * step)])))
    return {"chorales": chorales[0::2], "table": chorales[1::2], "folk": folk}


def transition_table(pieces: list[bytes]) -> dict[str, dict[str, dict[str, int]]]:
    """Chord-to-chord move counts per mode family, from estimated chords in the estimated key."""
    from pipelines.midi.canonical import midi_to_music
    from pipelines.midi.metrics_harmony import family

    table: dict[str, dict[str, dict[str, int]]] = {"major": {}, "minor": {}}
    for data in pieces:
        piece = make_piece(midi_to_music(data))
        found = estimate_key(piece.pitched)
        if found is not None and piece.accompaniment:
            count_transitions(labels(estimate_chords(piece), found[0]), table[family(found[0])])
    return table


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in 0..100."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def corpus_band(name: str, values: dict[str, list[float]]) -> dict[str, Any]:
    pooled = [v for corpus in CORPUS_SOURCES[name] for v in values[corpus]]
    low, high = percentile(pooled, 2.5), percentile(pooled, 97.5)
    source = f"{' + '.join(CORPUS_SOURCES[name])}: 2.5-97.5th percentile of {len(pooled)} pieces"
    if name in WIDENED:
        (wide_low, wide_high), why = WIDENED[name]
        low, high, source = min(low, wide_low), max(high, wide_high), f"{source}, {why}"
    return {"band": [round(low, 4), round(high, 4)], "source": source, "n": len(pooled),
            "median": round(statistics.median(pooled), 4)}


def build_bands(pieces: dict[str, list[bytes]]) -> dict[str, Any]:
    table = transition_table(pieces["table"])
    document: dict[str, Any] = {"metrics": {}, "progression_table": table}
    values: dict[str, dict[str, list[float]]] = {name: {"chorales": [], "folk": []} for name in BANDED}
    for corpus in ("chorales", "folk"):
        for data in pieces[corpus]:
            metrics = report_midi(data, {"metrics": {}, "progression_table": table})["metrics"]
            for name, value in metrics.items():
                if value is not None:
                    values[name][corpus].append(value)
    for name in BANDED:
        if name in REASONED:
            (low, high), source = REASONED[name]
            document["metrics"][name] = {"band": [low, high], "source": source}
        else:
            document["metrics"][name] = corpus_band(name, values[name])
    return document


def memorization_band(pieces: dict[str, list[bytes]]) -> dict[str, Any]:
    """How much two real pieces of one corpus share (metrics_diversity): the central 95% of the
    pairwise overlap between band chorales, and between folk songs of one collection, for the
    melody, the progression (chorales only: folk songs have no harmony) and their mean. A
    generator's seeds of one style that share more than that are one song re-voiced."""
    import itertools

    from pipelines.midi.canonical import midi_to_music
    from pipelines.midi.metrics_diversity import fingerprint, overlap

    groups = [pieces["chorales"]] + [pieces["folk"][i:i + FOLK_PER_FILE]
                                     for i in range(0, len(pieces["folk"]), FOLK_PER_FILE)]
    values: dict[str, list[float]] = {"melody": [], "progression": [], "overlap": []}
    for group in groups:
        prints = [fingerprint(midi_to_music(data)) for data in group]
        for a, b in itertools.combinations(prints, 2):
            found = {what: overlap(a[what], b[what]) for what in ("melody", "progression")}
            for what, value in found.items():
                if value is not None:
                    values[what].append(value)
            both = [v for v in found.values() if v is not None]
            if both:
                values["overlap"].append(statistics.fmean(both))
    out = {}
    for what, name in (("melody", "melody_overlap"), ("progression", "progression_overlap"),
                       ("overlap", "cross_piece_overlap")):
        pooled = values[what]
        out[name] = {
            "band": [round(percentile(pooled, 2.5), 4), round(percentile(pooled, 97.5), 4)],
            "median": round(statistics.median(pooled), 4), "n": len(pooled),
            "source": f"{'chorales' if what == 'progression' else 'chorales + folk'}: 2.5-97.5th "
                      f"percentile of the {what} 4-gram overlap of {len(pooled)} pairs of real pieces "
                      "(chorale pairs; folk pairs within a collection); a style's mean over the pairs "
                      "of its seeds must stay under the top"}
    return out


def held_out_fraction(pieces: list[bytes], bands: dict[str, Any]) -> float:
    """Mean share of metrics inside the bands for chorales the bands were not measured on."""
    fractions = [report_midi(data, bands)["bands_inside_fraction"] for data in pieces]
    return statistics.fmean(f for f in fractions if f is not None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BANDS_PATH)
    args = parser.parse_args(argv)
    pieces = load_corpus()
    document = {
        "generated_by": "python -m pipelines.midi.make_bands",
        "corpus": {"chorales": f"music21 bach chorales, Riemenschneider order, the first {CHORALES}: "
                               "even positions for bands, odd positions for the transition table",
                   "folk": f"music21 Essen folk songs, {FOLK_PER_FILE} evenly spaced from each of "
                           f"{', '.join(FOLK_FILES)}"},
        "band": "central 95% (2.5th-97.5th percentile) of per-piece values",
        **build_bands(pieces),
        "memorization": memorization_band(pieces),
    }
    document["held_out_chorales_inside_fraction"] = round(held_out_fraction(pieces["table"],
                                                                            document), 4)
    args.out.write_text(json.dumps(document, sort_keys=True, indent=1) + "\n")
    for name in BANDED:
        spec = document["metrics"][name]
        print(f"{name:26} [{spec['band'][0]:8.3f}, {spec['band'][1]:8.3f}]  {spec['source'][:60]}")
    for name, memo in document["memorization"].items():
        print(f"{name:26} [{memo['band'][0]:8.3f}, {memo['band'][1]:8.3f}]  memorization")
    print(f"held-out chorales inside bands: {document['held_out_chorales_inside_fraction']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
