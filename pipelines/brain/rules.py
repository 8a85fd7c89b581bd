"""Reading what a musician's words state outright (tempo, key, meter, bars, genre, mood, parts).

`read_facts` returns only what the text says; `read_hints` what its words imply ("club track"
implies house). Both return MusicIntent field names with values in pipelines.vocabulary.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pipelines.brain.words import (
    ENERGY_WORDS,
    GENRE_CUES,
    GENRE_NAMES,
    MOOD_WORDS,
    ROLE_WORDS,
    VOICE_NOUNS,
    VOICE_WORDS,
)
from pipelines.vocabulary import (
    MODE_ALIASES,
    MODES,
    ROLES,
    TEMPO_BPM,
    TIME_SIGNATURES,
    normalize_key,
    normalize_mode,
)

_MODE_WORDS = "|".join(sorted((*MODES, *MODE_ALIASES), key=len, reverse=True))
_ACCIDENTAL = r"(#|b|[ -]sharp|[ -]flat)?"
# "in D minor", "In F# dorian", "key of Bb", "in e flat minor"; a lower-case tonic only with a mode.
_KEY_AFTER_IN = re.compile(
    rf"\b(?:in|key of|key:?)\s+([A-Ga-g]){_ACCIDENTAL}(?:\s*({_MODE_WORDS})\b|(m)\b|(?![\w#]))", re.I)
# "Bb major", "F# dorian", "C minor" anywhere: the tonic must be a capital letter.
_KEY_WITH_MODE = re.compile(rf"(?<![\w#])([A-G]){_ACCIDENTAL}\s*({_MODE_WORDS})\b", re.I)
_MODE_ALONE = re.compile(r"\b(dorian|phrygian|lydian|mixolydian|aeolian|locrian|ionian)\b|"
                         r"\b(major|minor)[ -](?:key|mode|scale|tonality)\b")
_TEMPO = (
    re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:-\s*)?(?:bpm|beats (?:per|a) minute)\b"),
    re.compile(r"\btempo\s*(?:of|at|=|:|around|about)?\s*(\d{2,3}(?:\.\d+)?)\b"),
    re.compile(r"\bat\s+(?:around\s+|about\s+|roughly\s+|~\s*)?(\d{2,3}(?:\.\d+)?)\b"
               r"(?!\s*(?:bars?|measures?|%|percent|pm|am|seconds?|minutes?|hz|khz|db)\b)"),
)
_METER = re.compile(r"(?<![\d/])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/])")
_NUMBER_WORDS = {"four": 4, "eight": 8, "twelve": 12, "sixteen": 16, "twenty-four": 24,
                 "thirty-two": 32, "forty-eight": 48, "sixty-four": 64}
_BARS = re.compile(r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")[\s-]*(?:bars?|measures?)\b")
_ONLY = re.compile(r"\b(?:just|only|solo|nothing but|purely)\s+(.*)")
# Words that may sit inside "just piano and bass" without ending the list.
_LIST_GLUE = {"and", "&", "plus", "with", "a", "an", "the", "some", "acoustic", "electric", "grand",
              "upright", "soft", "warm", "felt", "muted", "synth", "bowed", "little", "lead"}
_WITHOUT = re.compile(r"\b(?:no|without|minus|drop the|lose the|zero)\s+([\w-]+)|\b(drum|beat)less\b")
_VOICE = re.compile(r"\b((?:[a-z-]+[ ,]+){0,2}?)(?:" + "|".join(VOICE_NOUNS) + r")\b")
_FILLER = {"a", "an", "the", "with", "and", "some", "of", "over", "on", "by", "in", "plus", "her",
           "his", "their", "for", "lots", "no", "but"}


def normalize_text(text: str) -> str:
    """Lower case with one spelling for sharps, flats, dashes and spaces."""
    text = text.replace("♯", "#").replace("♭", "b").replace("–", "-").replace("—", "-")
    return re.sub(r"\s+", " ", text.lower()).strip()


@cache
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation, longest phrase first, matched on word boundaries (a hyphen is one too,
    so "disco-house" holds both words while "lo-fi" still matches whole, being longer)."""
    body = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


def find_phrases(text: str, table: dict[str, Any]) -> list[tuple[int, str]]:
    """(position, phrase) of every table phrase in normalized text, in reading order."""
    return [(m.start(), m.group(0)) for m in _phrase_pattern(tuple(table)).finditer(text)]


def read_tempo(text: str) -> float | None:
    for pattern in _TEMPO:
        for match in pattern.finditer(text):
            bpm = float(match.group(1))
            if TEMPO_BPM.low <= bpm <= TEMPO_BPM.high:
                return bpm
    return None


def _tonic(letter: str, accidental: str | None) -> str | None:
    mark = (accidental or "").strip(" -")
    return normalize_key(letter + {"sharp": "#", "flat": "b"}.get(mark, mark))


def read_key(raw: str) -> dict[str, str]:
    """Key and mode stated in the text (either may be missing); raw keeps the tonic's case."""
    text = raw.replace("♯", "#").replace("♭", "b")
    for match in _KEY_AFTER_IN.finditer(text):
        letter, accidental, mode, short_minor = match.groups()
        if letter.islower() and not (mode or short_minor):
            continue  # "in a club", "in e.g.": an article or a word, not a note
        if letter == "a" and re.match(r"[ -]key\b", text[match.end():]):
            continue  # "in a minor key": some minor key, the tonic unsaid
        if tonic := _tonic(letter, accidental):
            canonical = normalize_mode(mode or ("minor" if short_minor else ""))
            return {"key": tonic, **({"mode": canonical} if canonical else _mode_alone(text))}
    for match in _KEY_WITH_MODE.finditer(text):
        if match.group(1).isupper() and (tonic := _tonic(match.group(1), match.group(2))):
            canonical = normalize_mode(match.group(3))
            return {"key": tonic, **({"mode": canonical} if canonical else {})}
    return _mode_alone(text)


def _mode_alone(text: str) -> dict[str, str]:
    """A mode named away from its tonic ("a dorian groove in A", "minor key")."""
    alone = _MODE_ALONE.search(text.lower())
    canonical = normalize_mode(alone.group(1) or alone.group(2)) if alone else None
    return {"mode": canonical} if canonical else {}


def read_meter(text: str) -> str | None:
    for match in _METER.finditer(text):
        signature = f"{int(match.group(1))}/{int(match.group(2))}"
        if signature in TIME_SIGNATURES:
            return signature
    return None


def read_bars(text: str) -> int | None:
    if match := _BARS.search(text):
        count = _NUMBER_WORDS.get(match.group(1)) or int(match.group(1))
        return count if 1 <= count <= 512 else None
    return None


def _roles_in(words: str) -> set[str]:
    return {role for _, word in find_phrases(words, ROLE_WORDS) for role in ROLE_WORDS[word]}


def _listed_roles(tail: str) -> set[str]:
    """Roles of the instruments listed at the start of tail, up to the first other word."""
    roles: set[str] = set()
    for word in re.findall(r"[\w&-]+|,", tail):
        if word in ROLE_WORDS:
            roles.update(ROLE_WORDS[word])
        elif word not in _LIST_GLUE and word != ",":
            break
    return roles


def read_instrumentation(text: str) -> list[str] | None:
    """Roles kept by "just piano and bass" or left by "no drums"; None when the text says neither."""
    roles: set[str] | None = None
    if (only := _ONLY.search(text)) and (listed := _listed_roles(only.group(1))):
        roles = listed
    for match in _WITHOUT.finditer(text):
        if dropped := _roles_in(match.group(1) or match.group(2)):
            roles = (roles if roles is not None else set(ROLES)) - dropped
    if not roles:
        return None
    return [role for role in ROLES if role in roles]


def _voice_spans(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _VOICE.finditer(text)]


def read_vocals(text: str) -> str | None:
    """The words describing the voice ("fragile breathy vocals"), or 'none' for instrumentals."""
    if re.search(r"\b(?:instrumental|no vocals?|without vocals?|no singing|no voice)\b", text):
        return "none"
    parts: list[str] = []
    for match in _VOICE.finditer(text):
        words = [w for w in re.split(r"[ ,]+", match.group(1)) if w and w not in _FILLER]
        parts.append(" ".join([*words, match.group(0).split()[-1]]).strip())
    parts += [word for _, word in find_phrases(text, dict.fromkeys(VOICE_WORDS))
              if not any(word in part for part in parts)]
    return ", ".join(parts)[:60] if parts else None


def read_genre(text: str) -> str | None:
    """The first genre named outright; adjectives ("jazzy") count only when no noun is there."""
    named = find_phrases(text, GENRE_NAMES)
    nouns = [p for p in named if not p[1].endswith("y") or p[1] in ("country",)]
    chosen = nouns or named
    return GENRE_NAMES[chosen[0][1]] if chosen else None


def read_mood(text: str) -> str | None:
    """The first mood word that does not describe the voice ("fragile vocals" is no mood)."""
    spans = _voice_spans(text)
    moods = [word for at, word in find_phrases(text, MOOD_WORDS)
             if not any(start <= at < end for start, end in spans)]
    return MOOD_WORDS[moods[0]] if moods else None


def read_energy(text: str) -> float | None:
    """Mean of the energy words used, so "chill but driving" lands in the middle."""
    values = [ENERGY_WORDS[word] for _, word in find_phrases(text, ENERGY_WORDS)]
    return round(sum(values) / len(values), 2) if values else None


def read_facts(text: str) -> dict[str, Any]:
    """Only what the text states: genre, mood, tempo_bpm, key, mode, time_signature, bars, ..."""
    lowered = normalize_text(text)
    readers: dict[str, Any] = {
        "genre": read_genre(lowered), "mood": read_mood(lowered), "tempo_bpm": read_tempo(lowered),
        "time_signature": read_meter(lowered), "bars": read_bars(lowered),
        "instrumentation": read_instrumentation(lowered), "energy": read_energy(lowered),
        "vocal_character": read_vocals(lowered),
    }
    facts = {name: value for name, value in readers.items() if value is not None}
    facts.update(read_key(" ".join(text.split())))
    return facts


def read_hints(text: str) -> dict[str, Any]:
    """What the words imply without naming it: genre cues, a waltz's 3/4, a short loop's bars."""
    lowered = normalize_text(text)
    hints: dict[str, Any] = {}
    if cues := find_phrases(lowered, GENRE_CUES):
        hints["genre"] = GENRE_CUES[cues[0][1]]
    if re.search(r"\bwaltz|\bin three\b|\bthree-four\b|\btriple (?:time|meter)\b", lowered):
        hints["time_signature"] = "3/4"
    elif re.search(r"\bshuffle\b|\btwelve-eight\b|\bdoo-wop\b", lowered):
        hints["time_signature"] = "12/8"
    if re.search(r"\b(?:loop|jingle|sketch|short)\b", lowered):
        hints["bars"] = 8 if "loop" in lowered else 16
    elif re.search(r"\b(?:epic|long|extended|journey)\b", lowered):
        hints["bars"] = 64
    return hints
