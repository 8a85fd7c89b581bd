"""Rules-only defaults: a complete intent from the words alone, used when no model answers.

Every value is a plain dict entry with a MusicIntent field name, so the schema can fall back to
it field by field when a model's value is invalid.
"""

from __future__ import annotations

from typing import Any

from pipelines.brain.rules import find_phrases, normalize_text, read_facts, read_hints
from pipelines.brain.words import CURVE_WORDS, TEMPO_WORDS
from pipelines.vocabulary import GENRES, ROLES

GENRE_TEMPO = {"triphop": 90, "lofi": 80, "house": 124, "ballad": 72, "jazz": 120, "folk": 100,
               "rock": 124, "ambient": 70, "pop": 112}
GENRE_MOOD = {"triphop": "moody", "lofi": "calm", "house": "energetic", "ballad": "sad",
              "jazz": "moody", "folk": "calm", "rock": "energetic", "ambient": "dreamy",
              "pop": "happy"}
MOOD_GENRE = {"moody": "triphop", "sad": "ballad", "happy": "pop", "dark": "triphop",
              "dreamy": "ambient", "energetic": "house", "calm": "lofi", "tense": "rock",
              "fragile": "ballad", "uplifting": "pop"}
MOOD_ENERGY = {"moody": 0.45, "sad": 0.35, "happy": 0.65, "dark": 0.5, "dreamy": 0.35,
               "energetic": 0.85, "calm": 0.3, "tense": 0.6, "fragile": 0.25, "uplifting": 0.7}
# Slow moods pull the genre's tempo down a little, lively ones push it up.
MOOD_TEMPO = {"sad": 0.92, "fragile": 0.9, "calm": 0.94, "dreamy": 0.94, "energetic": 1.06,
              "happy": 1.04, "uplifting": 1.03}
MAJOR_MOODS = frozenset({"happy", "uplifting", "energetic", "calm"})
GENRE_KEY = {"triphop": "D", "lofi": "F", "house": "A", "ballad": "C", "jazz": "Bb", "folk": "G",
             "rock": "E", "ambient": "D", "pop": "C"}
MOOD_IMAGE = {
    "moody": "rain-streaked city window at night, neon reflections",
    "sad": "empty room at dusk, soft blue light, rain on glass",
    "happy": "sunlit park, bright colours, people dancing",
    "dark": "shadowy forest under a blood moon, deep contrast",
    "dreamy": "pastel clouds over a calm sea, soft focus",
    "energetic": "crowded dance floor, strobe lights, motion blur",
    "calm": "quiet morning lake, mist, warm light",
    "tense": "long corridor, flickering light, hard shadows",
    "fragile": "single candle in a dark room, thin paper flowers",
    "uplifting": "sunrise over mountains, golden rays",
}
GENRE_TEXTURE = {
    "triphop": "dusty vinyl, smoky reverb", "lofi": "vinyl crackle and tape hiss",
    "house": "warm analog synth hum", "ballad": "soft room tone and piano resonance",
    "jazz": "late-night club ambience", "folk": "wooden room, distant birds",
    "rock": "amp hum and room reverb", "ambient": "slow evolving drones",
    "pop": "glossy airy shimmer",
}
SECTION_SHIFT = {"intro": -0.15, "verse": -0.05, "chorus": 0.15, "bridge": 0.0,
                 "breakdown": -0.2, "drop": 0.2, "outro": -0.2}


def default_sections(bars: int) -> list[dict[str, Any]]:
    """Intro, alternating verses and choruses, outro; at most 8 sections, bars summing to `bars`."""
    if bars <= 8:
        return [{"name": "verse", "bars": bars}]
    if bars < 24:
        return [{"name": "verse", "bars": bars // 2}, {"name": "chorus", "bars": bars - bars // 2}]
    edge = 4 if bars < 48 else 8
    middle = bars - 2 * edge
    chunk = max(8, -(-middle // 6))
    sizes = [chunk] * (middle // chunk)
    if middle % chunk:
        sizes[-1] += middle % chunk
    body = [{"name": ("verse", "chorus")[i % 2], "bars": size} for i, size in enumerate(sizes)]
    return [{"name": "intro", "bars": edge}, *body, {"name": "outro", "bars": edge}]


def shaped_curve(sections: list[dict[str, Any]], energy: float, shape: str | None) -> list[float]:
    """One energy per section: the usual arc by section name, or a rise, fall, peak or flat line."""
    count = len(sections)
    if shape == "flat":
        values = [energy] * count
    elif shape in ("rise", "fall"):
        ramp = [energy - 0.25 + 0.45 * i / max(1, count - 1) for i in range(count)]
        values = ramp if shape == "rise" else ramp[::-1]
    else:
        values = [energy + SECTION_SHIFT.get(s["name"], 0.0) for s in sections]
        if shape == "peak" and count > 2:
            values[max(range(count), key=values.__getitem__)] = energy + 0.3
    return [round(min(1.0, max(0.0, v)), 2) for v in values]


def energy_shape(text: str) -> str | None:
    """rise, fall, peak or flat from words about how the piece moves."""
    found = find_phrases(normalize_text(text), CURVE_WORDS)
    return CURVE_WORDS[found[0][1]] if found else None


def default_tempo(text: str, genre: str, mood: str | None) -> float:
    """The genre's tempo, bent by slow/fast words or else a stated mood, kept within 40..220."""
    words = find_phrases(normalize_text(text), TEMPO_WORDS)
    factor = TEMPO_WORDS[words[0][1]] if words else MOOD_TEMPO.get(mood or "", 1.0)
    return float(min(220, max(40, round(GENRE_TEMPO[genre] * factor))))


def _describe(known: dict[str, Any], facts: dict[str, Any]) -> str:
    stated = ", ".join(f"{name} {known[name]}" for name in ("genre", "mood", "tempo_bpm", "key")
                       if name in facts)
    return (f"Stated: {stated}; the rest from rules defaults." if stated
            else "Nothing explicit; rules defaults for every field.")[:200]


def rules_defaults(text: str, chosen: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every MusicIntent field: stated facts, then implied hints, then `chosen` values (a model's
    genre or mood where the words are silent), then the per-genre and per-mood conventions."""
    facts, hints = read_facts(text), read_hints(text)
    known = {**(chosen or {}), **hints, **facts}
    genre = known.get("genre") or MOOD_GENRE.get(known.get("mood", ""), GENRES[0])
    mood = known.get("mood") or GENRE_MOOD[genre]
    energy = float(known.get("energy", round((MOOD_ENERGY[mood] + MOOD_ENERGY[GENRE_MOOD[genre]])
                                             / 2, 2)))
    bars = int(known.get("bars", 32))
    sections = default_sections(bars)
    # Only a stated mood bends the tempo: the genre's own mood is already in its tempo.
    tempo = float(known.get("tempo_bpm") or default_tempo(text, genre, known.get("mood")))
    return {
        "genre": genre, "mood": mood, "tempo_bpm": tempo,
        "key": known.get("key", GENRE_KEY[genre]),
        "mode": known.get("mode", "major" if mood in MAJOR_MOODS else "minor"),
        "time_signature": known.get("time_signature", "4/4"), "bars": bars, "sections": sections,
        "instrumentation": known.get("instrumentation", list(ROLES)), "energy": energy,
        "energy_curve": shaped_curve(sections, energy, energy_shape(text)),
        "vocal_character": known.get("vocal_character", "none"),
        "image_prompt": f"{mood} {genre} cover art, {MOOD_IMAGE[mood]}",
        "audio_texture_prompt": f"{mood} {genre} texture, {GENRE_TEXTURE[genre]}, {tempo:g} bpm",
        "explanation": _describe({**known, "tempo_bpm": tempo}, facts),
        "rule_breaking": [],
    }
