"""The MIDI generator makes music: valid files, deterministic, in key, in time, with feel."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from pipelines.errors import BadMusicParams
from pipelines.midi import GENRES, ROLES, MidiPipeline, MidiRequest, check_request
from pipelines.midi.drums import HAT, KICK, RIDE

REPO = Path(__file__).resolve().parent.parent
SIGNATURES = ("4/4", "3/4", "6/8", "5/4", "7/8", "2/4")


def render(**fields: object) -> bytes:
    return MidiPipeline()(MidiRequest(**fields)).midi  # type: ignore[arg-type]


def notes_of(music: dict, role: str) -> list[dict]:
    return next(t for t in music["tracks"] if t["role"] == role)["notes"]


def test_empty_request_makes_a_type_1_file_with_a_conductor_and_four_parts() -> None:
    song = mido.MidiFile(file=io.BytesIO(render()))
    assert song.type == 1 and song.ticks_per_beat == 480 and len(song.tracks) == 5
    names = [next(m.name for m in t if m.type == "track_name") for t in song.tracks]
    assert names == ["conductor", *ROLES]
    for track, channel in zip(song.tracks[1:], (0, 1, 2, 9), strict=True):
        assert {m.channel for m in track if m.type == "note_on"} == {channel}
    assert any(m.type == "set_tempo" for m in song.tracks[0])


def test_same_request_and_seed_give_identical_bytes() -> None:
    assert render(seed=11, genre="jazz") == render(seed=11, genre="jazz")


def test_five_seeds_give_five_different_pieces() -> None:
    assert len({render(seed=seed) for seed in range(5)}) == 5


def test_bytes_do_not_depend_on_the_process_or_its_hash_seed() -> None:
    code = ("import sys; from pipelines.midi import MidiPipeline, MidiRequest; "
            "sys.stdout.buffer.write(MidiPipeline()(MidiRequest(seed=4, genre='lofi')).midi)")
    outputs = set()
    for hash_seed in ("1", "977"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                              capture_output=True, check=True)
        outputs.add(done.stdout)
    assert outputs == {render(seed=4, genre="lofi")}


@pytest.mark.parametrize("genre", GENRES)
@pytest.mark.parametrize("mode", ["major", "minor"])
def test_every_genre_stays_in_key_and_melody_lands_on_chord_tones(genre: str, mode: str) -> None:
    report = MidiPipeline()(MidiRequest(genre=genre, mode=mode, key="Eb", seed=2)).report
    assert report["in_key_ratio"] >= 0.9
    assert report["chord_tone_ratio"] >= 0.7


@pytest.mark.parametrize("signature", SIGNATURES)
@pytest.mark.parametrize("genre", GENRES)
def test_every_genre_and_meter_fills_exactly_its_bars(genre: str, signature: str) -> None:
    music = MidiPipeline()(MidiRequest(genre=genre, time_signature=signature, bars=5)).music
    numerator, denominator = (int(x) for x in signature.split("/"))
    bar = 480 * 4 * numerator // denominator
    notes = [n for t in music["tracks"] for n in t["notes"]]
    assert notes and min(n["tick"] for n in notes) >= 0
    assert 4 * bar < max(n["tick"] + n["duration"] for n in notes) <= 5 * bar
    assert music["time_signature_map"] == [
        {"tick": 0, "numerator": numerator, "denominator": denominator}]
    if genre != "ambient":
        kicks = {round(n["tick"] / bar) for n in notes_of(music, "drums") if n["pitch"] == KICK}
        assert set(range(5)) <= kicks  # the kick marks every downbeat, whatever the meter


@pytest.mark.parametrize(
    ("fields", "needle"),
    [({"key": "H"}, "key 'H'"), ({"tempo_bpm": 0}, "tempo_bpm 0"), ({"bars": 0}, "bars 0"),
     ({"genre": "polka"}, "genre 'polka'"), ({"mode": "blues"}, "mode 'blues'"),
     ({"time_signature": "4/3"}, "time_signature '4/3'"), ({"swing": 0.9}, "swing 0.9"),
     ({"instrumentation": ("kazoo",)}, "instrumentation"), ({"instrumentation": ()}, "instr"),
     ({"energy_curve": (0.2, 1.5)}, "energy_curve value 1.5"), ({"seed": -1}, "seed -1")],
)
def test_bad_request_is_refused_naming_field_and_value(fields: dict, needle: str) -> None:
    with pytest.raises(BadMusicParams, match=needle):
        check_request(MidiRequest(**fields))
    with pytest.raises(ValueError):  # callers that only know ValueError still catch it
        MidiPipeline()(MidiRequest(**fields))


def test_spelling_variants_of_key_and_mode_are_accepted() -> None:
    music = MidiPipeline()(MidiRequest(key="bb", mode="Minor", bars=2)).music
    assert (music["key"], music["mode"]) == ("Bb", "minor")


def test_dropping_a_part_leaves_the_other_parts_unchanged() -> None:
    full = MidiPipeline()(MidiRequest(seed=6)).music
    some = MidiPipeline()(MidiRequest(seed=6, instrumentation=("drums", "bass"))).music
    assert [t["role"] for t in some["tracks"]] == ["bass", "drums"]
    for role in ("bass", "drums"):
        assert notes_of(some, role) == notes_of(full, role)


def test_energy_raises_every_part_velocity() -> None:
    quiet = MidiPipeline()(MidiRequest(energy=0.1, seed=3)).report["tracks"]
    loud = MidiPipeline()(MidiRequest(energy=0.9, seed=3)).report["tracks"]
    for role in ROLES:
        assert loud[role]["velocity_mean"] > quiet[role]["velocity_mean"] + 10


def test_an_energy_curve_puts_the_chorus_where_the_energy_is() -> None:
    curve = (0.2, 0.2, 0.9, 0.9)
    music = MidiPipeline()(MidiRequest(bars=32, energy_curve=curve)).music
    names = [s["name"] for s in music["sections"]]
    assert names[0] == "intro" and "chorus" in names[2:]
    assert "chorus" not in names[:2]


def test_melody_moves_mostly_by_step_within_a_singable_range() -> None:
    for genre in GENRES:
        pitches = [n["pitch"] for n in notes_of(MidiPipeline()(MidiRequest(genre=genre)).music,
                                                 "melody")]
        moves = [abs(b - a) for a, b in zip(pitches, pitches[1:], strict=False)]
        assert max(pitches) - min(pitches) <= 20
        assert sum(m <= 4 for m in moves) / len(moves) >= 0.75


def test_chord_voicings_move_little_from_chord_to_chord() -> None:
    music = MidiPipeline()(MidiRequest(genre="ambient", bars=32, humanize_ms=0)).music
    chords = notes_of(music, "chords")
    voicings = [sorted(n["pitch"] for n in chords if n["tick"] == tick)
                for tick in sorted({n["tick"] for n in chords})]
    tops = [v[-1] for v in voicings]
    assert max(abs(b - a) for a, b in zip(tops, tops[1:], strict=False)) <= 5


def test_swing_delays_offbeat_eighths_and_zero_humanize_keeps_the_grid() -> None:
    music = MidiPipeline()(MidiRequest(genre="jazz", swing=1 / 3, humanize_ms=0)).music
    rides = [n["tick"] % 480 for n in notes_of(music, "drums") if n["pitch"] == RIDE]
    assert set(rides) <= {0, 320} and 320 in rides


def test_humanized_kick_stays_tighter_than_hats() -> None:
    music = MidiPipeline()(MidiRequest(genre="rock", swing=0, humanize_ms=30, bars=64)).music
    drums = notes_of(music, "drums")

    def spread(pitch: int) -> float:
        offsets = [min(n["tick"] % 240, 240 - n["tick"] % 240) for n in drums
                   if n["pitch"] == pitch]
        return sum(offsets) / len(offsets)

    assert spread(KICK) < 0.5 * spread(HAT) and spread(HAT) > 4
