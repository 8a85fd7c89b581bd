"""The MIDI generator makes music: in key, in time, with chords that move, dynamics and feel."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.midi import GENRES, ROLES, TIME_SIGNATURES, MidiPipeline, MidiRequest
from pipelines.midi.drums import HAT, KICK, RIDE

# The brain's common meters, and some only a musician would ask for.
SIGNATURES = (*TIME_SIGNATURES, "5/8", "3/2", "11/16")


def music_of(**fields: Any) -> dict[str, Any]:
    return MidiPipeline()(MidiRequest(**fields)).music


def notes_of(music: dict[str, Any], role: str) -> list[dict[str, int]]:
    return next(t for t in music["tracks"] if t["role"] == role)["notes"]


@pytest.mark.parametrize("genre", GENRES)
@pytest.mark.parametrize("mode", ["major", "minor"])
def test_every_genre_stays_in_key_and_melody_lands_on_chord_tones(genre: str, mode: str) -> None:
    # A verse states the key; only choruses and bridges may borrow a chord (bIII, bVI, bVII).
    verse = MidiPipeline()(MidiRequest(genre=genre, mode=mode, key="Eb", bars=4, seed=2)).report
    assert verse["in_key_ratio"] >= 0.95
    report = MidiPipeline()(MidiRequest(genre=genre, mode=mode, key="Eb", bars=8, seed=2)).report
    assert report["chord_tone_ratio"] >= 0.55  # tones of the harmony sounding below the melody


@pytest.mark.parametrize("signature", SIGNATURES)
@pytest.mark.parametrize("genre", GENRES)
def test_every_genre_and_meter_fills_exactly_its_bars(genre: str, signature: str) -> None:
    music = music_of(genre=genre, time_signature=signature, bars=5)
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


def test_chords_progress_and_the_piece_ends_home() -> None:
    chords = music_of(bars=16, seed=9)["chords"]
    assert len({c["symbol"] for c in chords}) >= 3
    assert chords[-1]["degree"] == 1


def test_dropping_a_part_leaves_the_other_parts_unchanged() -> None:
    full = music_of(seed=6)
    some = music_of(seed=6, instrumentation=("drums", "bass"))
    assert [t["role"] for t in some["tracks"]] == ["bass", "drums"]
    for role in ("bass", "drums"):
        assert notes_of(some, role) == notes_of(full, role)


def test_energy_raises_every_part_velocity() -> None:
    quiet = MidiPipeline()(MidiRequest(energy=0.1, seed=3)).report["tracks"]
    loud = MidiPipeline()(MidiRequest(energy=0.9, seed=3)).report["tracks"]
    for role in ROLES:
        assert loud[role]["velocity_mean"] > quiet[role]["velocity_mean"] + 10


def test_an_energy_curve_puts_the_chorus_where_the_energy_is() -> None:
    music = music_of(bars=32, energy_curve=(0.2, 0.2, 0.9, 0.9))
    names = [s["name"] for s in music["sections"]]
    assert names[0] == "intro" and "chorus" in names[2:]
    assert "chorus" not in names[:2]


@pytest.mark.parametrize("genre", GENRES)
def test_melody_moves_mostly_by_step_within_a_singable_range(genre: str) -> None:
    pitches = [n["pitch"] for n in notes_of(music_of(genre=genre), "melody")]
    moves = [abs(b - a) for a, b in zip(pitches, pitches[1:], strict=False)]
    assert max(pitches) - min(pitches) <= 20
    assert sum(m <= 4 for m in moves) / len(moves) >= 0.75


def test_chord_voicings_move_little_from_chord_to_chord() -> None:
    chords = notes_of(music_of(genre="ambient", bars=32, humanize_ms=0), "chords")
    voicings = [sorted(n["pitch"] for n in chords if n["tick"] == tick)
                for tick in sorted({n["tick"] for n in chords})]
    tops = [v[-1] for v in voicings]
    assert max(abs(b - a) for a, b in zip(tops, tops[1:], strict=False)) <= 5


def test_swing_delays_offbeat_eighths_and_zero_humanize_keeps_the_grid() -> None:
    music = music_of(genre="jazz", swing=1 / 3, humanize_ms=0)
    rides = [n["tick"] % 480 for n in notes_of(music, "drums") if n["pitch"] == RIDE]
    assert set(rides) <= {0, 320} and 320 in rides


def test_humanized_kick_stays_tighter_than_hats() -> None:
    drums = notes_of(music_of(genre="rock", swing=0, humanize_ms=30, bars=64), "drums")

    def spread(pitch: int) -> float:
        offsets = [min(n["tick"] % 240, 240 - n["tick"] % 240) for n in drums
                   if n["pitch"] == pitch]
        return sum(offsets) / len(offsets)

    assert spread(KICK) < 0.5 * spread(HAT) and spread(HAT) > 4


def test_secondary_dominants_are_major_with_a_minor_seventh_a_fifth_above_their_target() -> None:
    from pipelines.midi.theory import Key, chord_from_numeral

    assert chord_from_numeral(Key("D", "minor"), "V7/iv").symbol == "D7"
    assert chord_from_numeral(Key("C", "major"), "V7/ii").tones == (9, 1, 4, 7)
    assert chord_from_numeral(Key("C", "major"), "V/V").symbol == "D"
