"""The MIDI report card: known answers on hand-made pieces, bands that tell music from random
notes, the CLI module, the exact MIDI round trip and the audio preview."""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import sys

import mido
import pytest

from pipelines.midi import MidiPipeline, MidiRequest, midi_to_music, music_to_midi
from pipelines.midi.bands import load_bands
from pipelines.midi.card import BANDED
from pipelines.midi.errors import PreviewUnavailable
from pipelines.midi.random_notes import random_like
from pipelines.midi.report import report_midi, report_music
from tests.conftest import REPO

C_MAJOR_SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def piece(tracks: list[dict], bars: int, numerator: int = 4, key: str | None = "C") -> dict:
    return {
        "format": "studio-farm.music/1", "ppq": 480, "key": key, "mode": "major" if key else None,
        "genre": None, "mood": None, "seed": None, "bars": bars, "sections": [], "chords": [],
        "tempo_map": [{"tick": 0, "bpm": 120.0, "us_per_beat": 500_000}],
        "time_signature_map": [{"tick": 0, "numerator": numerator, "denominator": 4}],
        "tracks": tracks,
    }


def track(role: str, notes: list[tuple[int, int, int]], channel: int = 0) -> dict:
    return {"name": role, "role": role, "channel": channel, "program": 0,
            "notes": [{"tick": t, "duration": d, "pitch": p, "velocity": 80} for t, d, p in notes]}


def scale_piece() -> dict:
    return piece([track("melody", [(i * 480, 480, p) for i, p in enumerate(C_MAJOR_SCALE)])], bars=2)


def hats(step: int, bars: int = 4, swing: int = 0) -> dict:
    ticks = [t + (swing if t % 480 == 240 else 0) for t in range(0, bars * 1920, step)]
    return piece([track("drums", [(t, 60, 42) for t in ticks], channel=9)], bars=bars)


def test_c_major_scale_is_all_in_key_all_steps_and_finds_c_major() -> None:
    metrics = report_music(scale_piece())["metrics"]
    assert metrics["in_key_ratio"] == 1.0 and metrics["scale_consistency"] == 1.0
    assert metrics["melody_step_ratio"] == 1.0 and metrics["melody_range"] == 12
    assert metrics["pitch_class_entropy"] == round(-(6 / 8 * math.log2(1 / 8) + 2 / 8 * math.log2(2 / 8)), 4)
    assert metrics["syncopation"] == 0.0 and metrics["empty_beat_rate"] == 0.0
    assert report_music(scale_piece())["estimated_key"] == "C major"


def test_straight_sixteenth_hihat_has_perfect_groove_and_four_hits_a_beat() -> None:
    report = report_music(hats(120))
    metrics = report["metrics"]
    assert metrics["groove_consistency"] == 1.0 and metrics["drum_groove_consistency"] == 1.0
    assert metrics["drum_hit_density"] == 4.0 and metrics["onset_jitter_ms"] == 0.0
    assert metrics["swing_ratio"] is None  # sixteenths leave no lone offbeat eighth to measure
    assert report["parts"]["drums"]["groove_consistency"] == 1.0


def test_triplet_swung_eighths_measure_a_two_to_one_swing_ratio() -> None:
    assert report_music(hats(240, swing=80))["metrics"]["swing_ratio"] == 2.0
    assert report_music(hats(240))["metrics"]["swing_ratio"] == 1.0


def test_one_block_chord_per_bar_is_a_harmonic_rhythm_of_one_change_per_bar() -> None:
    roots = (48, 53, 55, 48)  # C F G C
    chords = [(bar * 1920, 1900, root + i) for bar, root in enumerate(roots) for i in (0, 4, 7)]
    melody = [(bar * 1920, 960, root + 24) for bar, root in enumerate(roots)]
    metrics = report_music(piece([track("melody", melody), track("chords", chords, 1)], 4))["metrics"]
    assert metrics["harmonic_rhythm"] == 0.75  # three changes over four bars
    assert metrics["harmony_tone_ratio"] == 1.0


def test_report_carries_band_checks_with_value_band_inside_and_source() -> None:
    report = report_music(MidiPipeline()(MidiRequest(seed=1)).music)
    assert set(report["bands"]) == set(BANDED)
    for name, check in report["bands"].items():
        assert check["value"] == report["metrics"][name]
        low, high = check["band"]
        assert check["inside"] in (None, low <= check["value"] <= high) and check["source"]
    assert report["bands_inside_fraction"] >= 0.8
    assert len(report["warnings"]) == sum(c["inside"] is False for c in report["bands"].values())
    for key in ("tracks", "in_key_ratio", "chord_tone_ratio", "duration_s", "parts", "memorization"):
        assert key in report
    assert json.loads(json.dumps(report)) == report


def test_random_notes_fall_outside_the_bands_and_get_warnings() -> None:
    music = MidiPipeline()(MidiRequest(genre="rock", seed=3)).music
    report = report_midi(music_to_midi(random_like(music, seed=3)))
    assert report["bands_inside_fraction"] < 0.5
    assert any(w.startswith("in_key_ratio") for w in report["warnings"])
    assert any(w.startswith("melody_step_ratio") for w in report["warnings"])


def test_every_band_names_where_it_comes_from() -> None:
    bands = load_bands()
    assert set(bands["metrics"]) == set(BANDED)
    for spec in bands["metrics"].values():
        assert spec["band"][0] <= spec["band"][1]
        assert spec["source"].startswith(("chorales", "reasoning"))
    assert bands["progression_table"]["major"] and bands["progression_table"]["minor"]


def test_report_is_deterministic() -> None:
    music = MidiPipeline()(MidiRequest(genre="jazz", seed=4)).music
    assert json.dumps(report_music(music), sort_keys=True) == json.dumps(report_music(music),
                                                                        sort_keys=True)


def test_pitch_class_entropy_agrees_with_pretty_midi() -> None:
    pretty_midi = pytest.importorskip("pretty_midi")
    data = MidiPipeline()(MidiRequest(genre="folk", seed=2, instrumentation=("melody",))).midi
    histogram = pretty_midi.PrettyMIDI(io.BytesIO(data)).get_pitch_class_histogram()
    expected = -sum(p * math.log2(p) for p in histogram if p > 0)
    assert report_midi(data)["metrics"]["pitch_class_entropy"] == pytest.approx(expected, abs=1e-4)


def foreign_file() -> bytes:
    """A type-1 file from elsewhere: tempo and metre change mid-piece, notes on two channels."""
    song = mido.MidiFile(type=1, ticks_per_beat=96)
    song.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=600_000), mido.MetaMessage("time_signature", numerator=3),
        mido.MetaMessage("set_tempo", tempo=400_000, time=288),
        mido.MetaMessage("time_signature", numerator=7, denominator=8, time=0)]))
    notes = mido.MidiTrack()
    for index, pitch in enumerate((60, 64, 67, 72, 71)):
        notes.append(mido.Message("note_on", channel=index % 2, note=pitch, velocity=70 + index,
                                  time=0 if index == 0 else 10))
        notes.append(mido.Message("note_off", channel=index % 2, note=pitch, velocity=0, time=90))
    song.tracks.append(notes)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def test_midi_to_canonical_to_midi_keeps_notes_tempo_and_metre_exactly() -> None:
    music = midi_to_music(foreign_file())
    again = midi_to_music(music_to_midi(music))
    assert again == music
    assert music["tempo_map"] == [{"tick": 0, "bpm": 100.0, "us_per_beat": 600_000},
                                  {"tick": 288, "bpm": 150.0, "us_per_beat": 400_000}]
    assert [(s["tick"], s["numerator"], s["denominator"]) for s in music["time_signature_map"]] == [
        (0, 3, 4), (288, 7, 8)]
    pretty_midi = pytest.importorskip("pretty_midi")
    original = pretty_midi.PrettyMIDI(io.BytesIO(foreign_file()))
    copied = pretty_midi.PrettyMIDI(io.BytesIO(music_to_midi(music)))

    def notes(song: object) -> list[tuple[float, float, int, int]]:
        return sorted((round(n.start, 6), round(n.end, 6), n.pitch, n.velocity)
                      for i in song.instruments for n in i.notes)  # type: ignore[attr-defined]

    assert notes(copied) == notes(original)
    assert [list(x) for x in copied.get_tempo_changes()] == [list(x) for x in original.get_tempo_changes()]


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.midi.report", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_report_module_prints_the_card_of_any_midi_file(tmp_path) -> None:
    path = tmp_path / "song.mid"
    path.write_bytes(MidiPipeline()(MidiRequest(bars=4)).midi)
    text = run_report(str(path))
    assert text.returncode == 0 and "melody_step_ratio" in text.stdout and "inside bands" in text.stdout
    card = run_report(str(path), "--json")
    assert card.returncode == 0 and json.loads(card.stdout)["bands"]["in_key_ratio"]["inside"] is True


@pytest.mark.parametrize("content", [b"RIFF not midi", None])
def test_report_module_refuses_a_bad_file_in_one_line_with_exit_2(tmp_path, content) -> None:
    path = tmp_path / "bad.mid"
    if content is not None:
        path.write_bytes(content)
    done = run_report(str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
def test_preview_renders_audible_unclipped_audio() -> None:
    from pipelines.midi.preview import find_soundfont, loudness_check, render_wav

    try:
        find_soundfont()
    except PreviewUnavailable as exc:
        pytest.skip(str(exc))
    wav = render_wav(MidiPipeline()(MidiRequest(genre="ballad", bars=4, tempo_bpm=120)).midi)
    loudness = loudness_check(wav)
    assert not loudness.silent and not loudness.clipping
    assert loudness.duration_s >= 7.5 and -45 < loudness.rms_dbfs < -6
    assert loudness.spectral_centroid_hz is None or 100 < loudness.spectral_centroid_hz < 8000


def test_preview_without_its_soundfont_is_a_clear_error(tmp_path) -> None:
    from pipelines.midi.preview import render_wav

    with pytest.raises(PreviewUnavailable, match="soundfont|fluidsynth"):
        render_wav(b"MThd", soundfont=tmp_path / "missing.sf2")
