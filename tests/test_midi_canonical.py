"""Canonical music JSON and MIDI bytes round-trip exactly; foreign files read; reports add up."""

from __future__ import annotations

import io
import json

import mido
import pytest

from pipelines.errors import BadMidiFile, BadMusicParams
from pipelines.midi import MidiPipeline, MidiRequest, midi_to_music, music_to_midi, report_music


def save(song: mido.MidiFile) -> bytes:
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def tiny_music(notes: list[dict]) -> dict:
    return {
        "format": "studio-farm.music/1", "ppq": 480, "key": "C", "mode": "major", "genre": None,
        "mood": None, "seed": None, "bars": 2,
        "tempo_map": [{"tick": 0, "bpm": 120.0, "us_per_beat": 500_000}],
        "time_signature_map": [{"tick": 0, "numerator": 4, "denominator": 4}],
        "tracks": [{"name": "melody", "role": "melody", "channel": 0, "program": 0,
                    "notes": notes}],
        "chords": [{"tick": 0, "duration": 3840, "symbol": "C", "degree": 1}],
    }


@pytest.mark.parametrize(("genre", "signature"), [("triphop", "4/4"), ("lofi", "3/4"),
                                                  ("jazz", "7/8"), ("folk", "6/8")])
def test_canonical_to_midi_to_canonical_is_exact(genre: str, signature: str) -> None:
    music = MidiPipeline()(MidiRequest(genre=genre, time_signature=signature, seed=5)).music
    assert midi_to_music(music_to_midi(music)) == music


def test_canonical_notes_are_sorted_by_tick_and_pitch() -> None:
    # Determinism across processes is tested on the bytes (test_midi_pipeline); this JSON is their twin.
    for track in MidiPipeline()(MidiRequest(seed=8)).music["tracks"]:
        keys = [(n["tick"], n["pitch"]) for n in track["notes"]]
        assert keys == sorted(keys)


def test_midi_to_music_reads_a_hand_built_file() -> None:
    song = mido.MidiFile(type=1, ticks_per_beat=96)
    song.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=400_000),
        mido.MetaMessage("time_signature", numerator=6, denominator=8),
        mido.MetaMessage("key_signature", key="Em"),
    ]))
    song.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="bass"),
        mido.Message("program_change", channel=2, program=33),
        mido.Message("note_on", channel=2, note=40, velocity=90, time=0),
        mido.Message("note_on", channel=2, note=40, velocity=0, time=96),
        mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
        mido.Message("note_off", channel=9, note=36, velocity=0, time=48),
    ]))
    music = midi_to_music(save(song))
    assert music["ppq"] == 96 and (music["key"], music["mode"]) == ("E", "minor")
    assert music["tempo_map"] == [{"tick": 0, "bpm": 150.0, "us_per_beat": 400_000}]
    assert music["time_signature_map"] == [{"tick": 0, "numerator": 6, "denominator": 8}]
    tracks = {t["role"]: t for t in music["tracks"]}
    assert tracks["bass"]["program"] == 33 and tracks["bass"]["channel"] == 2
    assert tracks["bass"]["notes"] == [{"tick": 0, "duration": 96, "pitch": 40, "velocity": 90}]
    assert tracks["drums"]["notes"] == [{"tick": 96, "duration": 48, "pitch": 36,
                                         "velocity": 100}]
    assert music["genre"] is None and music["bars"] == 1


def test_type_0_file_is_split_by_channel_and_a_restrike_ends_the_sounding_note() -> None:
    song = mido.MidiFile(type=0, ticks_per_beat=480)
    song.tracks.append(mido.MidiTrack([
        mido.Message("note_on", channel=0, note=60, velocity=80, time=0),
        mido.Message("note_on", channel=3, note=48, velocity=70, time=0),
        mido.Message("note_on", channel=0, note=60, velocity=81, time=240),
        mido.Message("note_off", channel=0, note=60, velocity=0, time=240),
        mido.Message("note_off", channel=3, note=48, velocity=0, time=0),
    ]))
    music = midi_to_music(save(song))
    assert [(t["channel"], t["role"]) for t in music["tracks"]] == [(0, "other"), (3, "other")]
    assert music["tracks"][0]["notes"] == [
        {"tick": 0, "duration": 240, "pitch": 60, "velocity": 80},
        {"tick": 240, "duration": 240, "pitch": 60, "velocity": 81}]
    assert music["tempo_map"][0]["us_per_beat"] == 500_000


def test_overlapping_same_pitch_notes_are_trimmed_so_pairing_stays_right() -> None:
    music = tiny_music([{"tick": 0, "duration": 960, "pitch": 60, "velocity": 80},
                        {"tick": 480, "duration": 480, "pitch": 60, "velocity": 90}])
    data = music_to_midi(music)
    sounding = False
    for message in mido.MidiFile(file=io.BytesIO(data)).tracks[1]:
        if message.type in ("note_on", "note_off"):
            starts = message.type == "note_on" and message.velocity > 0
            assert starts != sounding  # strictly on, off, on, off: no reader can mis-pair
            sounding = starts
    notes = midi_to_music(data)["tracks"][0]["notes"]
    assert notes == [{"tick": 0, "duration": 480, "pitch": 60, "velocity": 80},
                     {"tick": 480, "duration": 480, "pitch": 60, "velocity": 90}]


def test_bytes_that_are_not_midi_raise_bad_midi_file() -> None:
    with pytest.raises(BadMidiFile):
        midi_to_music(b"RIFF not a midi file")


def test_music_a_midi_file_cannot_carry_is_refused_naming_the_field() -> None:
    with pytest.raises(BadMusicParams, match="velocity 0"):
        music_to_midi(tiny_music([{"tick": 0, "duration": 10, "pitch": 60, "velocity": 0}]))
    with pytest.raises(BadMusicParams, match="tracks"):
        music_to_midi({"ppq": 480, "tempo_map": [], "time_signature_map": []})


def test_report_counts_notes_and_measures_key_and_chord_fit() -> None:
    notes = [{"tick": 0, "duration": 480, "pitch": 64, "velocity": 60},     # E on beat 1: fits C
             {"tick": 480, "duration": 480, "pitch": 62, "velocity": 80},   # D on beat 2: not
             {"tick": 720, "duration": 240, "pitch": 66, "velocity": 100}]  # F# off the beat: not
    music = tiny_music(notes)
    # C major sounding under the melody for the first bar: the ratio reads what sounds.
    music["tracks"].append({"name": "keys", "role": "chords", "channel": 1, "program": 0, "notes": [
        {"tick": 0, "duration": 1920, "pitch": p, "velocity": 50} for p in (48, 52, 55)]})
    report = report_music(music)
    report["tracks"].pop("chords")
    assert report["tracks"]["melody"] == {"notes": 3, "pitch_min": 62, "pitch_max": 66,
                                          "velocity_mean": 80.0, "velocity_std": 16.33}
    assert report["notes_total"] == 6 and report["bars"] == 2
    assert report["duration_s"] == 4.0
    assert report["in_key_ratio"] == round(5 / 6, 4)
    assert report["chord_tone_ratio"] == round(1 / 3, 4)
    json.dumps(report)
