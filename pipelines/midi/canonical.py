"""The canonical JSON form of a piece and its exact round trip through a type-1 MIDI file.

The conductor track carries tempo, time-signature and key-signature events, one text event
'studio-farm.music/1 {json}' with everything else MIDI has no event for (genre, mood, seed,
key, mode, bars, sections, ...), section markers, and one text event 'chord SYMBOL DURATION
DEGREE' per chord. Files from elsewhere read with genre, mood and seed as None.
"""

from __future__ import annotations

import io
import json
from typing import Any

import mido

from pipelines.errors import BadMidiFile, BadMusicParams
from pipelines.midi.score import Note, clean_notes
from pipelines.midi.theory import Key
from pipelines.vocabulary import ROLES

FORMAT = "studio-farm.music/1"
DRUM_CHANNEL = 9
_STRUCTURAL = frozenset({"format", "ppq", "tempo_map", "time_signature_map", "tracks", "chords"})


def tempo_entry(tick: int, us_per_beat: int) -> dict[str, Any]:
    """One tempo-map entry; bpm is derived from the microseconds MIDI actually stores."""
    return {"tick": tick, "bpm": round(60_000_000 / us_per_beat, 3), "us_per_beat": us_per_beat}


def song_ticks(signatures: list[dict[str, int]], ppq: int, bars: int) -> int:
    """Tick where bar `bars` begins, following time-signature changes."""
    tick = 0
    for _ in range(bars):
        current = [s for s in signatures if s["tick"] <= tick][-1]
        tick += ppq * 4 * current["numerator"] // current["denominator"]
    return tick


def _check_note(where: str, note: dict[str, Any]) -> None:
    limits = {"tick": (0, 1 << 28), "duration": (1, 1 << 28), "pitch": (0, 127),
              "velocity": (1, 127)}
    for field, (low, high) in limits.items():
        value = note.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise BadMusicParams(f"{where}.{field} {value!r} must be an integer in {low}..{high}")


def check_music(music: dict[str, Any]) -> None:
    """Raise BadMusicParams naming the first field a MIDI file could not carry."""
    for field in ("ppq", "tempo_map", "time_signature_map", "tracks"):
        if field not in music:
            raise BadMusicParams(f"music is missing '{field}'")
    for t, track in enumerate(music["tracks"]):
        channel, program = track.get("channel"), track.get("program", 0)
        if not isinstance(channel, int) or not 0 <= channel <= 15:
            raise BadMusicParams(f"tracks[{t}].channel {channel!r} must be in 0..15")
        if not isinstance(program, int) or not 0 <= program <= 127:
            raise BadMusicParams(f"tracks[{t}].program {program!r} must be in 0..127")
        for n, note in enumerate(track.get("notes", [])):
            _check_note(f"tracks[{t}].notes[{n}]", note)


def _as_track(events: list[tuple[int, int, int, mido.Message]], end: int = 0) -> mido.MidiTrack:
    track, now = mido.MidiTrack(), 0
    for tick, _order, _pitch, message in sorted(events, key=lambda e: e[:3]):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track


def _conductor(music: dict[str, Any]) -> mido.MidiTrack:
    meta = {k: v for k, v in music.items() if k not in _STRUCTURAL}
    events = [(0, 0, 0, mido.MetaMessage("track_name", name="conductor")),
              (0, 0, 1, mido.MetaMessage("text", text=f"{FORMAT} {_dump(meta)}"))]
    key = Key.named(music.get("key"), music.get("mode"))
    if key is not None:
        events.append((0, 0, 2, mido.MetaMessage("key_signature", key=key.signature_name())))
    for sig in music["time_signature_map"]:
        events.append((sig["tick"], 0, 3, mido.MetaMessage(
            "time_signature", numerator=sig["numerator"], denominator=sig["denominator"])))
    for entry in music["tempo_map"]:
        events.append((entry["tick"], 0, 4, mido.MetaMessage("set_tempo",
                                                             tempo=entry["us_per_beat"])))
    for section in music.get("sections", []):
        events.append((section["tick"], 0, 5, mido.MetaMessage("marker", text=section["name"])))
    for chord in music.get("chords", []):
        text = f"chord {chord['symbol']} {chord['duration']} {chord.get('degree', 0)}"
        events.append((chord["tick"], 0, 6, mido.MetaMessage("text", text=text)))
    end = song_ticks(music["time_signature_map"], music["ppq"], int(music.get("bars") or 0))
    return _as_track(events, end)


def _note_track(track: dict[str, Any], end_tick: int) -> mido.MidiTrack:
    channel = track["channel"]
    events = [(0, 0, 0, mido.MetaMessage("track_name", name=track["name"])),
              (0, 0, 1, mido.Message("program_change", channel=channel,
                                     program=track.get("program", 0)))]
    notes = [Note.from_dict(n) for n in track["notes"]]
    for note in clean_notes(notes, end_tick):
        events.append((note.tick, 2, note.pitch, mido.Message(
            "note_on", channel=channel, note=note.pitch, velocity=note.velocity)))
        events.append((note.end, 1, note.pitch, mido.Message(
            "note_off", channel=channel, note=note.pitch, velocity=0)))
    return _as_track(events)


def music_to_midi(music: dict[str, Any]) -> bytes:
    """A type-1 Standard MIDI File: the conductor track, then one track per part."""
    check_music(music)
    song = mido.MidiFile(type=1, ticks_per_beat=music["ppq"])
    song.tracks.append(_conductor(music))
    end_tick = 1 << 28  # clean_notes needs an upper bound; notes are already inside the song
    for track in music["tracks"]:
        song.tracks.append(_note_track(track, end_tick))
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def _dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class _Reader:
    """Collects one file's conductor events and notes, track by track."""

    def __init__(self) -> None:
        self.tempos: dict[int, int] = {}
        self.signatures: dict[int, tuple[int, int]] = {}
        self.meta: dict[str, Any] | None = None
        self.key_signature: str | None = None
        self.chords: list[dict[str, Any]] = []
        self.tracks: list[dict[str, Any]] = []

    def read_track(self, index: int, track: mido.MidiTrack) -> None:
        tick, name = 0, None  # name: str | None, set by the first track_name
        programs: dict[int, int] = {}
        active: dict[tuple[int, int], tuple[int, int]] = {}
        notes: dict[int, list[Note]] = {}
        for message in track:
            tick += message.time
            if message.is_meta:
                name = self._meta(message, tick, name)
            elif message.type == "program_change":
                programs.setdefault(message.channel, message.program)
            elif message.type in ("note_on", "note_off"):
                self._note(message, tick, active, notes)
        for (channel, pitch), (start, velocity) in sorted(active.items()):
            notes.setdefault(channel, []).append(_sounded(start, tick, pitch, velocity))
        # A part with no notes still names its channel through its program change.
        channels = sorted(notes) or sorted(programs)
        for channel in channels:
            label = name or f"track {index}"
            if len(channels) > 1:
                label = f"{label} ch{channel + 1}"
            self.tracks.append({
                "name": label, "role": _role(channel, name), "channel": channel,
                "program": programs.get(channel, 0),
                "notes": [n.as_dict() for n in sorted(notes.get(channel, []),
                                                      key=lambda n: (n.tick, n.pitch))],
            })

    def _meta(self, message: mido.MetaMessage, tick: int, name: str | None) -> str | None:
        if message.type == "set_tempo":
            self.tempos[tick] = message.tempo
        elif message.type == "time_signature":
            self.signatures[tick] = (message.numerator, message.denominator)
        elif message.type == "key_signature" and self.key_signature is None:
            self.key_signature = message.key
        elif message.type == "track_name" and name is None:
            return str(message.name)
        elif message.type == "text" and message.text.startswith(FORMAT + " "):
            self.meta = json.loads(message.text[len(FORMAT) + 1:])
        elif message.type == "text" and message.text.startswith("chord "):
            _, symbol, duration, degree = (message.text.split() + ["0"])[:4]
            self.chords.append({"tick": tick, "duration": int(duration), "symbol": symbol,
                                "degree": int(degree)})
        return name

    @staticmethod
    def _note(message: mido.Message, tick: int, active: dict[tuple[int, int], tuple[int, int]],
              notes: dict[int, list[Note]]) -> None:
        key = (message.channel, message.note)
        if key in active:  # a note-off, or a re-strike that ends the sounding note
            start, velocity = active.pop(key)
            notes.setdefault(message.channel, []).append(
                _sounded(start, tick, message.note, velocity))
        if message.type == "note_on" and message.velocity > 0:
            active[key] = (tick, message.velocity)


def _sounded(start: int, stop: int, pitch: int, velocity: int) -> Note:
    # A zero-length note cannot be written back; it keeps one tick.
    return Note(start, max(1, stop - start), pitch, velocity)


def _role(channel: int, name: str | None) -> str:
    if channel == DRUM_CHANNEL:
        return "drums"
    return name if name in ROLES else "other"


def _key_from_signature(signature: str | None) -> tuple[str | None, str | None]:
    if not signature:
        return None, None
    if signature.endswith("m"):
        return signature[:-1], "minor"
    return signature, "major"


def _bars_from_notes(reader: _Reader, signatures: list[dict[str, int]], ppq: int) -> int:
    end = max((n["tick"] + n["duration"] for t in reader.tracks for n in t["notes"]), default=0)
    bars = 0
    while song_ticks(signatures, ppq, bars) < end:
        bars += 1
    return bars


def midi_to_music(data: bytes) -> dict[str, Any]:
    """Any Standard MIDI File (type 0 or 1) as canonical JSON, split into one track per channel."""
    try:
        song = mido.MidiFile(file=io.BytesIO(data))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise BadMidiFile(f"not a Standard MIDI File: {exc}") from exc
    reader = _Reader()
    for index, track in enumerate(song.tracks):
        reader.read_track(index, track)
    ppq = song.ticks_per_beat
    tempos = {0: 500_000, **reader.tempos}  # MIDI's default until the first tempo event
    signatures = {0: (4, 4), **reader.signatures}
    sig_map = [{"tick": t, "numerator": n, "denominator": d}
               for t, (n, d) in sorted(signatures.items())]
    key, mode = _key_from_signature(reader.key_signature)
    music: dict[str, Any] = {
        "format": FORMAT, "ppq": ppq, "genre": None, "mood": None, "seed": None,
        "key": key, "mode": mode, "bars": _bars_from_notes(reader, sig_map, ppq),
        "sections": [],
    }
    music.update(reader.meta or {})
    music.update({
        "tempo_map": [tempo_entry(t, us) for t, us in sorted(tempos.items())],
        "time_signature_map": sig_map,
        "tracks": reader.tracks,
        "chords": sorted(reader.chords, key=lambda c: c["tick"]),
    })
    return music
