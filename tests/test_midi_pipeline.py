"""The MIDI pipeline's contract: a type-1 file, the same bytes in any process, requests checked first."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from typing import Any

import mido
import pytest

from pipelines.errors import BadMusicParams
from pipelines.midi import ROLES, MidiPipeline, MidiRequest, check_request
from tests.conftest import REPO

# Pieces that exercise harmony, odd meters, swing, curves and dropped parts: whatever could
# pick up set or dict order from the hash seed.
REQUESTS: list[dict[str, Any]] = [
    {"seed": 4, "genre": "jazz", "time_signature": "7/8", "bars": 8},
    {"seed": 9, "genre": "ambient", "mood": "dreamy", "key": "F#", "mode": "lydian",
     "energy_curve": (0.2, 0.9, 0.4), "instrumentation": ("chords", "bass")},
    {"seed": 2**40, "genre": "house", "mood": "energetic", "swing": 0.2, "bars": 12},
    # A long song: a bridge, cadences and substitutions drawn by the progression grammar.
    {"seed": 17, "genre": "lofi", "mood": "calm", "bars": 40},
]
DIGESTS = ("import hashlib; from pipelines.midi import MidiPipeline, MidiRequest; "
           "print(*(hashlib.sha256(MidiPipeline()(MidiRequest(**r)).midi).hexdigest() "
           f"for r in {REQUESTS!r}))")


def render(**fields: Any) -> bytes:
    return MidiPipeline()(MidiRequest(**fields)).midi


def test_empty_request_makes_a_type_1_file_with_a_conductor_and_four_parts() -> None:
    song = mido.MidiFile(file=io.BytesIO(render()))
    assert song.type == 1 and song.ticks_per_beat == 480 and len(song.tracks) == 5
    names = [next(m.name for m in t if m.type == "track_name") for t in song.tracks]
    assert names == ["conductor", *ROLES]
    for track, channel in zip(song.tracks[1:], (0, 1, 2, 9), strict=True):
        assert {m.channel for m in track if m.type == "note_on"} == {channel}
    assert any(m.type == "set_tempo" for m in song.tracks[0])


def test_fresh_processes_with_other_hash_seeds_write_the_same_bytes() -> None:
    here = [hashlib.sha256(render(**fields)).hexdigest() for fields in REQUESTS]
    for hash_seed in ("0", "12345"):
        done = subprocess.run([sys.executable, "-c", DIGESTS], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == here, f"PYTHONHASHSEED={hash_seed}"


def test_five_seeds_give_five_different_pieces() -> None:
    assert len({render(seed=seed, bars=4) for seed in range(5)}) == 5


@pytest.mark.parametrize(
    ("fields", "needle"),
    [({"key": "H"}, "key 'H'"), ({"tempo_bpm": 0}, "tempo_bpm 0"), ({"bars": 0}, "bars 0"),
     ({"genre": "polka"}, "genre 'polka'"), ({"mode": "blues"}, "mode 'blues'"),
     ({"time_signature": "4/3"}, "time_signature '4/3'"), ({"swing": 0.9}, "swing 0.9"),
     ({"tempo_bpm": True}, "tempo_bpm True"), ({"instrumentation": ("kazoo",)}, "instrumentation"),
     ({"instrumentation": ()}, "instrumentation"), ({"instrumentation": ("bass", "bass")}, "instrumentation"),
     ({"energy_curve": (0.2, 1.5)}, "energy_curve value 1.5"), ({"seed": -1}, "seed -1")],
)
def test_bad_request_is_refused_in_one_line_naming_field_and_value(fields: dict[str, Any],
                                                                   needle: str) -> None:
    with pytest.raises(BadMusicParams, match=needle) as caught:
        check_request(MidiRequest(**fields))
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError):  # callers that only know ValueError still catch it
        MidiPipeline()(MidiRequest(**fields))


def test_spelling_variants_are_accepted_and_written_canonically() -> None:
    music = MidiPipeline()(MidiRequest(key="bb", mode="Ionian", genre=" Lofi", mood="CALM", bars=2)).music
    assert (music["key"], music["mode"], music["genre"], music["mood"]) == ("Bb", "major", "lofi", "calm")
