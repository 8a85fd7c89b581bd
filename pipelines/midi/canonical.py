"""The canonical JSON form of a piece, and its exact round trip to and from a type-1 MIDI file.

Notes, the tempo map and the time-signature map survive MIDI -> JSON -> MIDI exactly. What MIDI
cannot say natively (genre, mood, seed, key and mode, chord symbols) rides in one text meta
event of the conductor track, so a file the farm wrote also round-trips those.
"""

from __future__ import annotations

import io
import json
from typing import Any

import mido

FORMAT = "studio-farm.music/1"
META_PREFIX = "studio-farm "
META_KEYS = ("genre", "mood", "key", "mode", "seed", "bars", "swing", "chords")
ROLE_NAMES = ("melody", "chords", "bass", "drums")


def bpm_of(us_per_beat: int) -> float:
    return round(60_000_000 / us_per_beat, 3)


def tempo_entry(tick: int, bpm: float) -> dict[str, Any]:
    us = int(round(60_000_000 / bpm))
    return {"tick": tick, "bpm": bpm_of(us), "us_per_beat": us}


def trim_overlaps(notes: list[dict[str, int]]) -> list[dict[str, int]]:
    """Sort notes and cut any note that runs into the next onset of the same pitch."""
    ordered = sorted(notes, key=lambda n: (n["tick"], n["pitch"], n["duration"], n["velocity"]))
    last: dict[int, dict[str, int]] = {}
    for item in ordered:
        before = last.get(item["pitch"])
        if before is not None and before["tick"] + before["duration"] > item["tick"]:
            before["duration"] = max(1, item["tick"] - before["tick"])
        last[item["pitch"]] = item
    return [n for n in ordered if n["duration"] >= 1]


def music_to_midi(music: dict[str, Any]) -> bytes:
    song = mido.MidiFile(type=1, ticks_per_beat=music["ppq"])
    song.tracks.append(_conductor(music))
    for track in music["tracks"]:
        song.tracks.append(_note_track(track))
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def _conductor(music: dict[str, Any]) -> mido.MidiTrack:
    meta = {k: music[k] for k in META_KEYS if k in music}
    events: list[tuple[int, int, mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("track_name", name="conductor")),
        (0, 1, mido.MetaMessage("text", text=META_PREFIX + json.dumps(meta, sort_keys=True))),
    ]
    events += [(t["tick"], 2, mido.MetaMessage("set_tempo", tempo=t["us_per_beat"]))
               for t in music["tempo_map"]]
    events += [(t["tick"], 3, mido.MetaMessage("time_signature", numerator=t["numerator"],
                                               denominator=t["denominator"]))
               for t in music["time_signature_map"]]
    if music.get("mode") in ("major", "minor"):
        name = music["key"] + ("m" if music["mode"] == "minor" else "")
        try:
            events.append((0, 4, mido.MetaMessage("key_signature", key=name)))
        except (KeyError, ValueError):
            pass  # a spelling MIDI's key signature cannot express (e.g. D# major)
    return _to_track(events)


def _note_track(track: dict[str, Any]) -> mido.MidiTrack:
    channel = track["channel"]
    events: list[tuple[int, int, Any]] = [
        (0, 0, mido.MetaMessage("track_name", name=track["name"])),
        (0, 1, mido.Message("program_change", channel=channel, program=track["program"])),
    ]
    for n in trim_overlaps([dict(n) for n in track["notes"]]):
        events.append((n["tick"], 3, mido.Message("note_on", channel=channel, note=n["pitch"],
                                                  velocity=n["velocity"])))
        events.append((n["tick"] + n["duration"], 2,
                       mido.Message("note_off", channel=channel, note=n["pitch"], velocity=0)))
    return _to_track(events)


def _to_track(events: list[tuple[int, int, Any]]) -> mido.MidiTrack:
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1], getattr(e[2], "note", 0))):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def midi_to_music(data: bytes) -> dict[str, Any]:
    """Any type-0 or type-1 Standard MIDI File as canonical JSON."""
    song = mido.MidiFile(file=io.BytesIO(data))
    music: dict[str, Any] = {"format": FORMAT, "ppq": song.ticks_per_beat, "tempo_map": [],
                             "time_signature_map": [], "tracks": []}
    for track in song.tracks:
        _read_track(track, music)
    return music


def _read_track(track: mido.MidiTrack, music: dict[str, Any]) -> None:
    tick, name, programs = 0, "", {}
    open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
    by_channel: dict[int, list[dict[str, int]]] = {}
    for message in track:
        tick += message.time
        if message.type == "set_tempo":
            music["tempo_map"].append({"tick": tick, "bpm": bpm_of(message.tempo),
                                       "us_per_beat": message.tempo})
        elif message.type == "time_signature":
            music["time_signature_map"].append({"tick": tick, "numerator": message.numerator,
                                                "denominator": message.denominator})
        elif message.type == "text" and message.text.startswith(META_PREFIX):
            music.update(json.loads(message.text[len(META_PREFIX):]))
        elif message.type == "track_name":
            name = message.name
        elif message.type == "program_change":
            programs[message.channel] = message.program
        elif message.type == "note_on" and message.velocity > 0:
            open_notes.setdefault((message.channel, message.note), []).append((tick, message.velocity))
        elif message.type in ("note_on", "note_off"):
            started = open_notes.get((message.channel, message.note))
            if started:
                start, velocity = started.pop(0)
                by_channel.setdefault(message.channel, []).append(
                    {"tick": start, "duration": max(1, tick - start), "pitch": message.note,
                     "velocity": velocity})
    for channel, notes in sorted(by_channel.items()):
        role = "drums" if channel == 9 else name if name in ROLE_NAMES else "other"
        music["tracks"].append({"name": name or f"channel {channel + 1}", "role": role,
                                "channel": channel, "program": programs.get(channel, 0),
                                "notes": sorted(notes, key=lambda n: (n["tick"], n["pitch"]))})
