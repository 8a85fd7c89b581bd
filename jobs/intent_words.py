"""Reading the plain facts of an intent ("moody triphop at 90 bpm in D minor") into MIDI params.

A rules-only reader for `farm demo`; the LLM-backed `intent` kind builds on the same facts.
"""

from __future__ import annotations

import re
from typing import Any

from jobs.kinds import GENRES, KEYS, MODES, MOODS, TIME_SIGNATURES

_GENRE_ALIASES = {"trip-hop": "triphop", "trip hop": "triphop", "lo-fi": "lofi", "lo fi": "lofi"}
_TEMPO = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)", re.I)
_KEY = re.compile(r"\bin\s+([A-G])([#b]?)\s*(major|minor|maj|min|dorian|phrygian|lydian|"
                  r"mixolydian|aeolian|locrian)?\b", re.I)
_METER = re.compile(r"\b(\d{1,2}/\d{1,2})\b")
_BARS = re.compile(r"\b(\d{1,3})\s*bars?\b", re.I)


def params_from_words(text: str) -> dict[str, Any]:
    """The facts stated in the text; anything not stated is left to the kind's defaults."""
    lowered = text.lower()
    for alias, canonical in _GENRE_ALIASES.items():
        lowered = lowered.replace(alias, canonical)
    words = set(re.findall(r"[a-z]+", lowered))
    params: dict[str, Any] = {}
    if genre := next((g for g in GENRES if g in words), None):
        params["genre"] = genre
    if mood := next((m for m in MOODS if m in words), None):
        params["mood"] = mood
    if tempo := _TEMPO.search(text):
        params["tempo_bpm"] = float(tempo.group(1))
    if key := _KEY.search(text):
        name = key.group(1).upper() + key.group(2)
        if name in KEYS:
            params["key"] = name
        spelled = (key.group(3) or "").lower()
        mode = {"maj": "major", "min": "minor"}.get(spelled, spelled)
        if mode in MODES:
            params["mode"] = mode
    if (meter := _METER.search(text)) and meter.group(1) in TIME_SIGNATURES:
        params["time_signature"] = meter.group(1)
    if bars := _BARS.search(text):
        params["bars"] = int(bars.group(1))
    return params
