"""The report card's newer metrics on hand-made pieces of known answer, a cross-check against
pretty_midi, cross-piece diversity, and the generator held to them."""

from __future__ import annotations

import bisect
import copy
import io
import random
import statistics

import pytest

from pipelines.midi import MidiPipeline, MidiRequest, music_to_midi
from pipelines.midi.bands import load_bands
from pipelines.midi.chord_estimate import estimate_chords
from pipelines.midi.metrics_diversity import cross_piece_overlap
from pipelines.midi.metrics_harmony import labels
from pipelines.midi.pianoroll import render_pianoroll
from pipelines.midi.piece import make_piece
from pipelines.midi.report import report_music
from pipelines.midi.theory import Key, chord_pitch_classes, pitch_class

C, F, G = (48, 52, 55), (53, 57, 60), (43, 47, 50, 53)  # C, F and G7 under the melody


def piece(tracks: list[dict], bars: int, bpm: float = 120.0) -> dict:
    us = round(60_000_000 / bpm)
    return {
        "format": "studio-farm.music/1", "ppq": 480, "key": "C", "mode": "major", "genre": None,
        "mood": None, "seed": None, "bars": bars, "sections": [], "chords": [],
        "tempo_map": [{"tick": 0, "bpm": bpm, "us_per_beat": us}],
        "time_signature_map": [{"tick": 0, "numerator": 4, "denominator": 4}], "tracks": tracks,
    }


def track(role: str, notes: list[tuple[int, int, int]], channel: int = 0) -> dict:
    return {"name": role, "role": role, "channel": channel, "program": 0,
            "notes": [{"tick": t, "duration": d, "pitch": p, "velocity": 80} for t, d, p in notes]}


def harmony_piece(melody_pitches: list[list[int]]) -> dict:
    """One chord a bar (C, F, G7, C) held under a melody of quarter notes, bar by bar."""
    chords = [(bar * 1920, 1920, p) for bar, shape in enumerate((C, F, G, C)) for p in shape]
    melody = [(bar * 1920 + beat * 480, 480, pitch) for bar, pitches in enumerate(melody_pitches)
              for beat, pitch in enumerate(pitches)]
    return piece([track("melody", melody), track("chords", chords, channel=1)], bars=4)


def test_a_melody_of_chord_tones_only_has_a_chord_tone_ratio_of_one() -> None:
    tones = [[64, 67, 72, 67], [65, 69, 72, 69], [67, 71, 74, 77], [72, 67, 64, 60]]
    assert report_music(harmony_piece(tones))["metrics"]["chord_tone_ratio"] == 1.0


def test_a_melody_a_semitone_above_every_chord_tone_has_a_chord_tone_ratio_of_zero() -> None:
    above = [[61, 65, 68, 73], [66, 70, 73, 78], [68, 72, 75, 66], [73, 77, 68, 61]]
    assert report_music(harmony_piece(above))["metrics"]["chord_tone_ratio"] == 0.0


def test_chord_tones_count_only_below_the_melody_and_only_what_sounds() -> None:
    # E over C (a tone below), then G with the C chord already let go: nothing sounds, not counted;
    # then C under the chord's top: only what sounds below it (C3, E3) counts, and C is there.
    chords = [(0, 400, 48), (0, 400, 52), (0, 400, 55), (960, 960, 48), (960, 960, 52), (960, 960, 79)]
    melody = [(0, 480, 64), (480, 480, 67), (960, 480, 60), (1440, 480, 62)]
    music = piece([track("melody", melody), track("chords", chords, channel=1)], bars=1)
    assert report_music(music)["metrics"]["chord_tone_ratio"] == pytest.approx(2 / 3, abs=1e-4)


def hats(bars: int, offbeat: int, jitter_ms: float = 0.0, seed: int = 0) -> dict:
    """Eighth-note hats with the offbeat at `offbeat` ticks into the beat, at 100 bpm."""
    rng, ticks_per_ms = random.Random(seed), 480 * 100 / 60000
    ticks = [beat * 480 + at for beat in range(4 * bars) for at in (0, offbeat)]
    notes = [(max(0, t + round(rng.uniform(-jitter_ms, jitter_ms) * ticks_per_ms)), 60, 42) for t in ticks]
    return piece([track("drums", notes, channel=9)], bars=bars, bpm=100)


def test_a_hihat_swung_to_a_triplet_feel_is_all_on_the_grid() -> None:
    assert report_music(hats(4, offbeat=320))["metrics"]["drum_on_grid"] == 1.0


def test_a_hihat_swung_part_way_is_on_its_own_swung_grid() -> None:
    assert report_music(hats(4, offbeat=290))["metrics"]["drum_on_grid"] == 1.0


def test_hats_smeared_by_40_ms_fall_off_the_grid() -> None:
    assert report_music(hats(8, offbeat=240, jitter_ms=40, seed=3))["metrics"]["drum_on_grid"] < 0.6


def rhythm_piece(bars: list[list[int]]) -> dict:
    """A melody whose bars have the given onsets (in eighths), C major pitches."""
    melody = [(bar * 1920 + e * 240, 200, (60, 62, 64, 65, 67)[i % 5])
              for bar, onsets in enumerate(bars) for i, e in enumerate(onsets)]
    return piece([track("melody", melody)], bars=len(bars))


def test_a_rhythm_that_comes_back_every_bar_repeats_fully() -> None:
    music = rhythm_piece([[0, 2, 3, 6]] * 6)
    assert report_music(music)["metrics"]["melodic_rhythm_repetition"] == 1.0


def test_rhythms_drawn_afresh_every_bar_do_not_repeat() -> None:
    music = rhythm_piece([[0, 1], [2, 3], [4, 5], [6, 7]])
    assert report_music(music)["metrics"]["melodic_rhythm_repetition"] == 0.0


def test_a_piece_overlaps_fully_with_itself_transposed_and_little_with_another() -> None:
    one = MidiPipeline()(MidiRequest(genre="folk", seed=1, bars=16)).music
    other = MidiPipeline()(MidiRequest(genre="jazz", seed=2, bars=16)).music
    moved = copy.deepcopy(one)  # the same piece a fourth higher, in G minor
    moved["key"] = "G"
    for part in moved["tracks"]:
        if part["role"] != "drums":
            part["notes"] = [{**n, "pitch": n["pitch"] + 5} for n in part["notes"]]
    assert cross_piece_overlap([one, one])["overlap"] == 1.0
    assert cross_piece_overlap([one, moved]) == {"melody": 1.0, "progression": 1.0, "overlap": 1.0}
    assert cross_piece_overlap([one, other])["overlap"] < 0.3


def _harmony_tone(pc: int, tones: set[int]) -> bool:
    """In the harmony: sounding, or completing a triad with what sounds (two stacked thirds of 3
    or 4 semitones), or a third, fifth or sixth over a lone note."""
    if pc in tones:
        return True
    if len(tones) == 1:
        return (pc - min(tones)) % 12 in (3, 4, 7, 8, 9)
    stacks = [(a, b) for a in (3, 4) for b in (3, 4)]
    for root in range(12):
        for stack in stacks:
            chord, at = {root}, root
            for step in stack:
                at = (at + step) % 12
                chord.add(at)
            if tones | {pc} <= chord:
                return True
    return False


def _pretty_chord_tone_ratio(pm: object) -> float:
    """The chord-tone ratio read independently: pretty_midi's notes in seconds."""
    by_name = {inst.name: inst.notes for inst in pm.instruments}  # type: ignore[attr-defined]
    below = [n for name in ("chords", "bass") for n in by_name.get(name, [])]
    hits = total = 0
    for note in by_name["melody"]:
        at = note.start + 0.040
        tones = {n.pitch % 12 for n in below if n.start <= at < n.end and n.pitch < note.pitch}
        if tones:
            total += 1
            hits += _harmony_tone(note.pitch % 12, tones)
    return hits / total


def _pretty_on_grid(pm: object) -> float:
    """Drum onsets within 15 ms of sixteenths, triplet eighths or the swung offbeats, by
    pretty_midi's beat times."""
    beats = list(pm.get_beats())  # type: ignore[attr-defined]
    drums = [n.start for inst in pm.instruments if inst.is_drum for n in inst.notes]  # type: ignore[attr-defined]
    placed = []
    for start in drums:
        index = max(0, bisect.bisect_right(beats, start + 1e-9) - 1)
        length = beats[index + 1] - beats[index] if index + 1 < len(beats) else beats[1] - beats[0]
        placed.append(((start - beats[index]) / length, length))
    fractions = [f for f, _ in placed]
    swung = []
    eighths = [f for f in fractions if 0.52 < f <= 0.72]
    sixteenths = [f % 0.5 - 0.25 for f in fractions if 0.26 < f % 0.5 <= 0.36]
    if len(eighths) >= 3:
        swung.append(statistics.median(eighths))
    if len(sixteenths) >= 3:
        swung += [0.25 + statistics.median(sixteenths), 0.75 + statistics.median(sixteenths)]
    grid = [g for g in (0, 0.25, 0.5, 0.75, 1, 1 / 3, 2 / 3) if all(abs(g - s) >= 0.06 for s in swung)]
    grid += swung
    return sum(min(abs(f - g) for g in grid) * length <= 0.015 for f, length in placed) / len(placed)


@pytest.mark.parametrize("genre", ["lofi", "house"])
def test_chord_tone_ratio_and_drum_on_grid_agree_with_pretty_midi(genre: str) -> None:
    pretty_midi = pytest.importorskip("pretty_midi")
    result = MidiPipeline()(MidiRequest(genre=genre, seed=5, bars=16))
    pm = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    metrics = result.report["metrics"]
    assert metrics["chord_tone_ratio"] == pytest.approx(_pretty_chord_tone_ratio(pm), abs=0.02)
    assert metrics["drum_on_grid"] == pytest.approx(_pretty_on_grid(pm), abs=0.02)


@pytest.mark.parametrize("genre", ["lofi", "folk", "ballad", "house", "jazz"])
def test_the_generator_fits_its_harmony_repeats_its_rhythms_and_keeps_time(genre: str) -> None:
    metrics = MidiPipeline()(MidiRequest(genre=genre, seed=11, bars=32)).report["metrics"]
    assert metrics["chord_tone_ratio"] >= 0.55
    assert metrics["melodic_rhythm_repetition"] >= 0.6
    assert metrics["drum_on_grid"] >= 0.9


def test_two_seeds_of_one_style_are_two_songs() -> None:
    pieces = [MidiPipeline()(MidiRequest(genre="ambient", seed=s, bars=32)) for s in (1, 2)]
    symbols = [[c["symbol"] for c in p.music["chords"]] for p in pieces]
    assert symbols[0] != symbols[1]
    assert cross_piece_overlap([p.music for p in pieces])["overlap"] < 0.6


@pytest.mark.parametrize(("genre", "mode"), [("house", "minor"), ("ballad", "minor"), ("folk", "minor"),
                                           ("ambient", "minor"), ("triphop", "major")])
def test_ten_seeds_of_a_style_share_no_more_than_real_pieces_do(genre: str, mode: str) -> None:
    # The memorisation bands: how much two real pieces share, measured with the same estimator.
    memo = load_bands()["memorization"]
    musics = [MidiPipeline()(MidiRequest(genre=genre, mode=mode, seed=s, bars=32)).music for s in range(10)]
    found = cross_piece_overlap(musics)
    assert found["progression"] is not None and found["overlap"] is not None
    assert found["progression"] <= memo["progression_overlap"]["band"][1]
    assert found["overlap"] <= memo["cross_piece_overlap"]["band"][1]


def test_the_piano_roll_is_a_png_the_same_every_time_with_each_role_drawn() -> None:
    from PIL import Image

    music = MidiPipeline()(MidiRequest(genre="pop", seed=2, bars=8)).music
    picture = render_pianoroll(music)
    assert picture[:8] == b"\x89PNG\r\n\x1a\n" and picture == render_pianoroll(music)
    image = Image.open(io.BytesIO(picture)).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    from pipelines.midi.pianoroll import ROLE_COLOURS, _shade

    for role in ("melody", "chords", "bass", "drums"):
        notes = next(t for t in music["tracks"] if t["role"] == role)["notes"]
        assert _shade(ROLE_COLOURS[role], notes[0]["velocity"]) in colours, role
    assert music_to_midi(music)  # the picture leaves the document as it was


def _progression(music: dict) -> list[str]:
    return labels(estimate_chords(make_piece(music)), Key.named("C", "major"))


def arpeggio_bar(bar: int, triad: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """One bar of eighth-note arpeggio up and down the triad, as comping plays it."""
    root, third, fifth = triad
    eighths = [root, third, fifth, third + 12, fifth, third, root, third]
    return [(bar * 1920 + i * 240, 240, p) for i, p in enumerate(eighths)]


def bass_bar(bar: int, bass: tuple[int, int]) -> list[tuple[int, int, int]]:
    """Root on beat one, fifth on beat three: the bass a listener hears the root from."""
    return [(bar * 1920, 960, bass[0]), (bar * 1920 + 960, 960, bass[1])]


def test_an_arpeggiated_c_major_bar_reads_as_one_c_chord() -> None:
    music = piece([track("chords", arpeggio_bar(0, (60, 64, 67)), channel=1),
                   track("bass", bass_bar(0, (36, 43)), channel=2)], bars=1)
    chords = estimate_chords(make_piece(music))
    assert [c[1:] for c in chords if c is not None] == [(0, "M")] * 4
    assert _progression(music) == ["0M"]


def test_arpeggiated_comping_reads_one_chord_a_bar_without_flicker() -> None:
    shapes = (((60, 64, 67), (36, 43)), ((65, 69, 72), (41, 36)), ((67, 71, 74), (43, 38)),
              ((57, 60, 64), (45, 40)), ((60, 64, 67), (36, 43)))
    arps = [n for bar, (triad, _) in enumerate(shapes) for n in arpeggio_bar(bar, triad)]
    basses = [n for bar, (_, bass) in enumerate(shapes) for n in bass_bar(bar, bass)]
    music = piece([track("chords", arps, channel=1), track("bass", basses, channel=2)], bars=5)
    assert _progression(music) == ["0M", "5M", "7M", "9m", "0M"]


def test_block_chords_changing_every_beat_still_read_beat_by_beat() -> None:
    # Four-part writing moves to a new triad on nearly every beat: I IV V I in one bar.
    shapes = ((48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (48, 64, 67, 72))
    notes = [(beat * 480, 480, p) for beat, shape in enumerate(shapes) for p in shape]
    music = piece([track("chords", notes, channel=1)], bars=1)
    assert _progression(music) == ["0M", "5M", "7M", "0M"]


def test_a_walking_bass_approach_note_under_sparse_comping_starts_no_chord() -> None:
    # C stabs on beats one and three over a bass walking C E G C#, the C# leading to the Dm bar.
    stabs = [(bar * 1920 + beat * 480, 240, p) for bar, shape in enumerate(((60, 64, 67), (62, 65, 69)))
             for beat in (0, 2) for p in shape]
    walk = [(i * 480, 460, p) for i, p in enumerate((48, 52, 55, 49, 50, 53, 57, 50))]
    music = piece([track("chords", stabs, channel=1), track("bass", walk, channel=2)], bars=2)
    assert _progression(music) == ["0M", "2m"]


@pytest.mark.parametrize("genre", ["ballad", "folk", "house", "lofi"])
def test_the_estimated_progression_is_the_one_the_generator_played(genre: str) -> None:
    music = MidiPipeline()(MidiRequest(genre=genre, seed=3, bars=16)).music
    key = Key.named(music["key"], music["mode"])
    played: list[str] = []
    for chord in music["chords"]:
        pcs = chord_pitch_classes(chord["symbol"])
        root = pitch_class(chord["symbol"][:2] if chord["symbol"][1:2] in ("b", "#") else chord["symbol"][0])
        above = {(pc - root) % 12 for pc in pcs}
        label = f"{(root - key.pc) % 12}{'d' if {3, 6} <= above else 'm' if 3 in above else 'M'}"
        if not played or played[-1] != label:
            played.append(label)
    assert labels(estimate_chords(make_piece(music)), key) == played
