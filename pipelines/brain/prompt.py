"""The words a model reads: an instruction and worked examples, as a completion or a chat.

The examples are written in the schema's field order, so a few-shot base model copies the shape
that the grammar enforces anyway. The prompt's head never changes, so llama.cpp reuses its cache.
"""

from __future__ import annotations

import json
from typing import Any

INSTRUCTION = (
    "Turn a musician's request into music parameters as one line of JSON. Keep every value the "
    "request states (tempo, key, mode, time signature, bars); infer the rest from its words.\n"
    "Genres: triphop (slow dark breakbeats), lofi (dusty chill beats), house (four-on-the-floor "
    "club), ballad (slow emotional song), jazz (swing, sax, walking bass), folk (acoustic "
    "guitar), rock (loud guitars), ambient (pads, no beat), pop (catchy radio song).\n"
    "Moods: moody, sad, happy, dark, dreamy, energetic, calm, tense, fragile, uplifting.\n"
    "Roles: melody, chords, bass, drums."
)

def _example(genre: str, mood: str, tempo: int, key: str, mode: str, meter: str, energy: float,
             roles: str, sections: str, curve: list[float], texts: tuple[str, str, str, str],
             rule_breaking: list[str]) -> dict[str, Any]:
    """One worked answer in schema order; sections are written "intro:4 verse:8"."""
    parts = [{"name": name, "bars": int(bars)} for name, bars in
             (item.split(":") for item in sections.split())]
    return {
        "explanation": texts[3], "genre": genre, "mood": mood, "tempo_bpm": tempo, "key": key, "mode": mode,
        "time_signature": meter, "bars": sum(p["bars"] for p in parts), "energy": energy,
        "instrumentation": roles.split(), "sections": parts, "energy_curve": curve,
        "vocal_character": texts[0], "image_prompt": texts[1], "audio_texture_prompt": texts[2],
        "rule_breaking": rule_breaking,
    }


# One example per genre, none of them phrased like the benchmark's intents. A small base model
# leans on the nearest example, so they spread over genres, tempi, keys and meters.
EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("warehouse rave tune, hypnotic and relentless", _example(
        "house", "energetic", 126, "F", "minor", "4/4", 0.85, "melody chords bass drums",
        "intro:8 drop:16 outro:8", [0.5, 0.9, 0.6],
        ("none", "strobes in a dark warehouse", "sub rumble and crowd noise",
         "A rave: driving four-on-the-floor house."), [])),
    ("slow melancholic piano piece for a rainy night, no drums", _example(
        "ballad", "sad", 64, "A", "minor", "4/4", 0.3, "melody chords bass",
        "verse:8 chorus:8", [0.25, 0.4],
        ("none", "rain on a dark window, a lone piano", "soft rain and room tone",
         "Melancholic and slow: a sad minor ballad."), ["borrowed major IV in the chorus"])),
    ("cool smoky set for a basement club with upright bass and tenor sax", _example(
        "jazz", "moody", 138, "Bb", "dorian", "4/4", 0.55, "melody chords bass drums",
        "verse:16 chorus:16", [0.5, 0.65],
        ("none", "smoke and brass in a basement club", "glasses clinking, low chatter",
         "Upright bass and sax: swinging jazz."), ["tritone substitution in the turnaround"])),
    ("weightless drifting soundscape for sleep", _example(
        "ambient", "calm", 60, "C", "lydian", "4/4", 0.2, "melody chords bass",
        "intro:8 verse:16 outro:8", [0.15, 0.25, 0.1],
        ("none", "stars over a still sea", "slow evolving drones", "Weightless and drifting: ambient."),
        [])),
    ("sunny summer pop song in G major at 118 bpm with bright female vocals", _example(
        "pop", "happy", 118, "G", "major", "4/4", 0.7, "melody chords bass drums",
        "intro:4 verse:8 chorus:8 chorus:8", [0.5, 0.6, 0.85, 0.9],
        ("bright female vocals", "beach at noon, bright colours", "summer air and distant waves",
         "Sunny pop at the stated 118 bpm."), [])),
    ("shadowy half-time groove with heavy reverb and a sampled breakbeat", _example(
        "triphop", "dark", 84, "G", "minor", "4/4", 0.45, "melody chords bass drums",
        "intro:4 verse:8 chorus:8 outro:4", [0.3, 0.45, 0.6, 0.3],
        ("whispered vocals", "dim alley under orange streetlight", "dusty vinyl and deep reverb",
         "Half-time breakbeat and shadows: dark trip-hop."), [])),
    ("old-time tune for a porch with banjo and fiddle, in three", _example(
        "folk", "happy", 104, "D", "major", "3/4", 0.55, "melody chords bass",
        "verse:8 chorus:8", [0.5, 0.65],
        ("none", "wooden porch at sunset", "creaking boards and crickets",
         "Banjo and fiddle: folk, a waltz-time feel."), [])),
    ("dusty beat to unwind after work, soft keys", _example(
        "lofi", "calm", 76, "Eb", "major", "4/4", 0.35, "melody chords bass drums",
        "verse:8 chorus:8", [0.3, 0.4],
        ("none", "desk lamp and a cup of tea at dusk", "vinyl crackle and tape hiss",
         "Dusty and soft: a calm lo-fi beat."), [])),
    ("gritty driving guitar anthem in 6/8 that builds to a huge ending", _example(
        "rock", "energetic", 144, "E", "minor", "6/8", 0.8, "melody chords bass drums",
        "verse:8 chorus:8 outro:8", [0.6, 0.8, 1.0],
        ("raspy shouted vocals", "stage lights through smoke", "amp hum and a roaring crowd",
         "Gritty guitars and drive: energetic rock that builds."),
        ["a bar of 9/8 before the last chorus"])),
)


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def completion_prompt(text: str) -> str:
    """Few-shot text for a base model: instruction, examples, then the request and 'JSON:'."""
    shots = "".join(f"Request: {request}\nJSON: {compact(answer)}\n\n" for request, answer in EXAMPLES)
    return f"{INSTRUCTION}\n\n{shots}Request: {_one_line(text)}\nJSON: "


def chat_messages(text: str) -> list[dict[str, str]]:
    """The same examples as chat turns, for models with a chat template and for endpoints."""
    messages = [{"role": "system", "content": INSTRUCTION}]
    for request, answer in EXAMPLES:
        messages += [{"role": "user", "content": request},
                     {"role": "assistant", "content": compact(answer)}]
    return [*messages, {"role": "user", "content": _one_line(text)}]
