"""One vocabulary: MusicParams' defaults, spellings and one-line refusals, and every table keyed by it."""

from __future__ import annotations

from typing import Any

import mido
import pytest
from pydantic import ValidationError

from jobs.kinds import kind_info
from pipelines.brain import defaults, words
from pipelines.midi.pipeline import CHANNELS
from pipelines.midi.styles import MOOD_TABLE, STYLES
from pipelines.midi.theory import MODE_STEPS, Key
from pipelines.vocabulary import (
    GENRES,
    KEYS,
    MODES,
    MOODS,
    ROLES,
    TIME_SIGNATURES,
    MusicParams,
    parse_time_signature,
)


def refusal(**fields: Any) -> str:
    """The one message MusicParams gives for `fields`, as a job would show it."""
    with pytest.raises(ValidationError) as caught:
        MusicParams(**fields)
    errors = caught.value.errors()
    assert len(errors) == 1
    return str(errors[0]["msg"]).removeprefix("Value error, ")


def test_defaults_are_a_moody_triphop_sketch_with_every_part() -> None:
    assert MusicParams().model_dump() == {
        "genre": "triphop", "mood": "moody", "key": "D", "mode": "minor", "tempo_bpm": 90.0,
        "time_signature": "4/4", "bars": 16, "energy": 0.5, "energy_curve": [],
        "instrumentation": ["melody", "chords", "bass", "drums"], "swing": None, "humanize_ms": 8.0,
    }


def test_the_midi_job_takes_exactly_these_params() -> None:
    assert kind_info("midi").params is MusicParams


@pytest.mark.parametrize(("field", "given", "kept"), [
    ("key", "c#", "C#"), ("key", " bb ", "Bb"), ("key", "F♯", "F#"), ("mode", "Ionian", "major"),
    ("mode", "MIN", "minor"), ("genre", " Jazz ", "jazz"), ("mood", "SAD", "sad"),
    ("time_signature", " 7/8", "7/8"), ("time_signature", "11/16", "11/16"),
    ("instrumentation", ("bass", "drums"), ["bass", "drums"]), ("bars", 8.0, 8),
])
def test_spellings_are_normalized(field: str, given: Any, kept: Any) -> None:
    assert getattr(MusicParams(**{field: given}), field) == kept


@pytest.mark.parametrize(("fields", "start"), [
    ({"genre": "polka"}, "genre 'polka' is not one of triphop, lofi, house"),
    ({"mood": None}, "mood None is not one of moody, sad"),
    ({"key": "H"}, "key 'H' is not one of C, C#, Db"),
    ({"mode": "blues"}, "mode 'blues' is not one of major, minor, dorian"),
    ({"time_signature": "17/8"}, "time_signature '17/8' must look like 4/4: numerator 1..16 over 1, 2"),
    ({"tempo_bpm": True}, "tempo_bpm True must be a number between 20 and 300"),
    ({"tempo_bpm": "90"}, "tempo_bpm '90' must be a number between 20 and 300"),
    ({"bars": 2.5}, "bars 2.5 must be an integer between 1 and 512"),
    ({"energy": float("nan")}, "energy nan must be a number between 0 and 1"),
    ({"energy_curve": [0.5] * 513}, "energy_curve [0.5, 0.5,"),
    ({"energy_curve": [0.2, -0.1]}, "energy_curve value -0.1 must be a number between 0 and 1"),
    ({"instrumentation": ["bass", "bass"]}, "instrumentation ['bass', 'bass'] must be distinct roles"),
    ({"instrumentation": []}, "instrumentation [] must be distinct roles, at least one, among melody"),
    ({"swing": 0.6}, "swing 0.6 must be a number between 0 and 0.5"),
    ({"humanize_ms": 41}, "humanize_ms 41 must be a number between 0 and 40"),
])
def test_a_bad_value_is_refused_in_one_line_naming_field_value_and_what_is_allowed(
        fields: dict[str, Any], start: str) -> None:
    message = refusal(**fields)
    assert message.startswith(start) and "\n" not in message


def test_a_long_bad_value_is_quoted_short_and_an_unknown_field_is_refused() -> None:
    assert len(refusal(key="H" * 5000)) < 160
    with pytest.raises(ValidationError, match="tempo"):
        MusicParams.model_validate({"tempo": 90})


def test_any_signature_of_up_to_sixteen_over_a_power_of_two_parses() -> None:
    assert all(parse_time_signature(text) for text in (*TIME_SIGNATURES, "1/1", "16/16", "3/2", " 5 / 8"))
    assert not any(parse_time_signature(text) for text in ("0/4", "17/4", "4/3", "4", "a/b", "4/4/4"))


@pytest.mark.parametrize(("table", "vocabulary"), [
    pytest.param(STYLES, GENRES, id="STYLES"), pytest.param(MOOD_TABLE, MOODS, id="MOOD_TABLE"),
    pytest.param(MODE_STEPS, MODES, id="MODE_STEPS"), pytest.param(CHANNELS, ROLES, id="CHANNELS"),
    pytest.param(defaults.GENRE_TEMPO, GENRES, id="GENRE_TEMPO"),
    pytest.param(defaults.GENRE_MOOD, GENRES, id="GENRE_MOOD"),
    pytest.param(defaults.GENRE_KEY, GENRES, id="GENRE_KEY"),
    pytest.param(defaults.GENRE_TEXTURE, GENRES, id="GENRE_TEXTURE"),
    pytest.param(defaults.MOOD_GENRE, MOODS, id="MOOD_GENRE"),
    pytest.param(defaults.MOOD_ENERGY, MOODS, id="MOOD_ENERGY"),
    pytest.param(defaults.MOOD_IMAGE, MOODS, id="MOOD_IMAGE"),
])
def test_every_table_keyed_by_the_vocabulary_covers_exactly_it(
        table: dict[str, Any], vocabulary: tuple[str, ...]) -> None:
    assert set(table) == set(vocabulary)


def test_the_brains_words_and_defaults_name_only_vocabulary_values() -> None:
    assert set(words.GENRE_NAMES.values()) | set(words.GENRE_CUES.values()) <= set(GENRES)
    assert set(words.MOOD_WORDS.values()) <= set(MOODS)
    assert {role for roles in words.ROLE_WORDS.values() for role in roles} == set(ROLES)
    assert set(defaults.GENRE_MOOD.values()) <= set(MOODS)
    assert set(defaults.MOOD_GENRE.values()) <= set(GENRES)
    assert set(defaults.GENRE_KEY.values()) <= set(KEYS)


def test_every_key_in_every_mode_has_a_seven_note_scale_and_a_signature_midi_can_carry() -> None:
    for tonic in KEYS:
        for mode in MODES:
            key = Key(tonic, mode)
            assert len(key.scale) == 7
            mido.MetaMessage("key_signature", key=key.signature_name())  # raises on a bad name
