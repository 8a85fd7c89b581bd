"""Harmony metrics of the report card: chords are estimated from the notes, the same way for a
generated piece, a random one and a chorale, so their figures compare.

- Chord estimation (chord_estimate.py): the accompaniment (every pitched part but the melody)
  segmented into harmonies within each bar, each run of beats read as the triad that best
  explains its duration-weighted pitch classes, the bass favoured as the root.
- harmonic_rhythm: chord changes per bar (Caplin, "Classical Form", 1998, on harmonic rhythm).
- harmony_tone_ratio: share of melody notes on a felt beat whose pitch class is a tone of the
  beat's chord (its estimated triad, or a note the accompaniment sounds then, as a seventh):
  chord tones on strong beats, non-chord tones in between
  (Aldwell & Schachter, "Harmony and Voice Leading", ch. on embellishing tones).
- chord_tone_ratio: of melody notes with accompaniment sounding below them, the share that are
  tones of the harmony those notes sound at the melody note's onset (what is heard, not a chord
  symbol: the voicing as played, pushes and anticipations included; see sounding.py for what a
  tone of it is). A note's harmony is what sounds 40 ms after its onset, so a humanized chord
  entering a little late still counts and one being let go does not. Real music: lead sheets
  about 0.6, Bach chorales about 0.75 (chord tones on strong beats, passing and neighbour tones
  between; Aldwell & Schachter).
- progression_plausibility: share of chord-to-chord moves that make at least 2% of that chord's
  continuations in a table counted from Bach chorales (the table lives in bands.json).
- progression_template_overlap: share of the piece's chord 4-grams found in the generator's own
  progression tables (memorization of its templates; cf. copy-detection n-gram overlap).
"""

from __future__ import annotations

import bisect
from functools import cache
from typing import Any

from pipelines.midi.chord_estimate import QUALITIES, estimate_chords
from pipelines.midi.piece import Piece
from pipelines.midi.score import Note
from pipelines.midi.sounding import LOOKAHEAD_MS, Sounding, is_chord_tone
from pipelines.midi.theory import Key, chord_from_numeral

PLAUSIBLE_SHARE = 0.02
TEMPLATE_N = 4


def harmonic_rhythm(chords: list[tuple[int, int, str] | None]) -> float | None:
    present = [c for c in chords if c is not None]
    if not present:
        return None
    changes = sum(a[1:] != b[1:] for a, b in zip(present, present[1:], strict=False))
    return changes / len({c[0] for c in present})


def labels(chords: list[tuple[int, int, str] | None], key: Key) -> list[str]:
    """The chord sequence as 'semitones above the tonic + quality', repeats merged."""
    out: list[str] = []
    for chord in chords:
        if chord is None:
            continue
        label = f"{(chord[1] - key.pc) % 12}{chord[2]}"
        if not out or out[-1] != label:
            out.append(label)
    return out


def family(key: Key) -> str:
    return "minor" if key.minor_family else "major"


def progression_plausibility(sequence: list[str], table: dict[str, dict[str, int]]) -> float | None:
    moves = list(zip(sequence, sequence[1:], strict=False))
    if not moves or not table:
        return None
    good = 0
    for before, after in moves:
        row = table.get(before, {})
        total = sum(row.values())
        good += bool(total) and row.get(after, 0) / total >= PLAUSIBLE_SHARE
    return good / len(moves)


def _label_of_numeral(token: str, mode: str) -> str:
    chord = chord_from_numeral(Key("C", mode), token)
    third, fifth = ((t - chord.root) % 12 for t in chord.tones[1:3])
    quality = "d" if (third, fifth) == (3, 6) else "m" if third == 3 else "M"
    return f"{chord.root}{quality}"


@cache
def template_ngrams(mode_family: str) -> frozenset[tuple[str, ...]]:
    """Every chord 4-gram the generator's progression tables can play, looping."""
    from pipelines.midi.styles import STYLES

    grams: set[tuple[str, ...]] = set()
    for style in STYLES.values():
        for progression in style.minor if mode_family == "minor" else style.major:
            mode = "minor" if mode_family == "minor" else "major"
            cycle = [_label_of_numeral(t, mode) for t in progression.chords]
            merged = [c for i, c in enumerate(cycle * 3) if i == 0 or c != (cycle * 3)[i - 1]]
            grams.update(tuple(merged[i:i + TEMPLATE_N]) for i in range(len(merged) - TEMPLATE_N + 1))
    return frozenset(grams)


def template_overlap(sequence: list[str], mode_family: str) -> float | None:
    grams = [tuple(sequence[i:i + TEMPLATE_N]) for i in range(len(sequence) - TEMPLATE_N + 1)]
    if not grams:
        return None
    known = template_ngrams(mode_family)
    return sum(g in known for g in grams) / len(grams)


def harmony_tone_ratio(piece: Piece, melody: list[Note],
                       chords: list[tuple[int, int, str] | None]) -> float | None:
    """Melody notes on felt beats whose pitch class belongs to the beat's estimated triad or
    sounds in the accompaniment then (a doubled voice, a seventh)."""
    accompaniment = piece.accompaniment
    if not accompaniment or not melody:
        return None
    tolerance = piece.ppq // 8
    beat_starts = [start for start, _ in piece.beats()]
    hits = total = 0
    for note in melody:
        index = bisect.bisect_left(beat_starts, note.tick - tolerance)
        if index >= len(beat_starts) or abs(beat_starts[index] - note.tick) > tolerance:
            continue
        chord = chords[index] if index < len(chords) else None
        tones = set() if chord is None else {(chord[1] + i) % 12 for i in QUALITIES[chord[2]]}
        tones |= {n.pitch % 12 for n in accompaniment
                  if n.tick <= note.tick + tolerance and n.end > note.tick}
        if tones:
            total += 1
            hits += note.pitch % 12 in tones
    return hits / total if total else None


def chord_tone_ratio(piece: Piece, melody: list[Note]) -> float | None:
    if not piece.accompaniment or not melody:
        return None
    sounding = Sounding(piece.accompaniment)
    hits = total = 0
    for note in melody:
        at = note.tick + round(LOOKAHEAD_MS / piece.ms_per_tick(note.tick))
        below = sounding.below(at, note.pitch)
        if below:
            total += 1
            hits += is_chord_tone(note.pitch % 12, below)
    return hits / total if total else None


def count_transitions(sequence: list[str], table: dict[str, dict[str, int]]) -> None:
    """Add a piece's chord moves to a transition table (make_bands builds it from chorales)."""
    for before, after in zip(sequence, sequence[1:], strict=False):
        row = table.setdefault(before, {})
        row[after] = row.get(after, 0) + 1


def harmony_metrics(piece: Piece, melody: list[Note], key: Key | None,
                    table: dict[str, Any]) -> dict[str, float | None]:
    chords = estimate_chords(piece) if piece.accompaniment else []
    sequence = labels(chords, key) if key is not None else []
    mode_family = family(key) if key is not None else "major"
    return {
        "harmony_tone_ratio": harmony_tone_ratio(piece, melody, chords),
        "chord_tone_ratio": chord_tone_ratio(piece, melody),
        "harmonic_rhythm": harmonic_rhythm(chords),
        "progression_plausibility": progression_plausibility(sequence, table.get(mode_family, {})),
        "progression_template_overlap": template_overlap(sequence, mode_family),
    }
