"""Per-genre tables: progressions, harmonic rhythm, comping, bass, drums, swing and sounds."""

from __future__ import annotations

from dataclasses import dataclass

# Drum grids are one 4/4 bar of 16ths: X accent, x hit, o ghost, . rest.
KICK, SNARE, RIM, CLAP, HAT, OPEN_HAT, PEDAL_HAT, RIDE, CRASH = 36, 38, 37, 39, 42, 46, 44, 51, 49
TOM_HIGH, TOM_MID, TOM_LOW = 50, 47, 43


@dataclass(frozen=True)
class Style:
    progressions: tuple[tuple[int, ...], ...]  # scale degrees, one chord each
    chord_size: int  # 3: triads, 4: sevenths
    bars_per_chord: float  # 0.5: two chords a bar, 2: one chord every two bars
    comp: str  # pad | stab | comp | arp | strum | pulse
    bass: str  # whole | half | eighths | offbeat | walk | boom
    swing: float  # offbeat delay as a fraction of the swung note, at slow tempo
    swing_unit: int  # 8: swing eighths, 16: swing sixteenths
    melody_density: float  # chance of an onset on an eighth-note position
    programs: tuple[int, int, int]  # GM programs: melody, chords, bass
    drums: tuple[tuple[int, str], ...]  # (GM drum note, 16-step grid); empty: no kit


STYLES: dict[str, Style] = {
    "triphop": Style(((1, 6, 3, 7), (1, 4, 6, 5), (1, 7, 6, 7), (1, 6, 4, 5)), 4, 1, "pad", "boom",
                     0.22, 16, 0.45, (11, 4, 38),
                     ((KICK, "X.....x...x....."), (SNARE, "........X......o"),
                      (HAT, "x.o.x.o.x.o.x.ox"))),
    "lofi": Style(((2, 5, 1, 6), (1, 6, 2, 5), (4, 3, 2, 1), (1, 4, 3, 6)), 4, 1, "comp", "boom",
                  0.28, 16, 0.5, (24, 4, 32),
                  ((KICK, "X......x..x....."), (SNARE, "....X.......X..o"),
                   (HAT, "x.x.x.x.x.x.x.x."))),
    "house": Style(((6, 4, 1, 5), (1, 6, 4, 5), (2, 5, 1, 1), (1, 4, 6, 5)), 4, 1, "stab",
                   "offbeat", 0.06, 16, 0.55, (80, 4, 38),
                   ((KICK, "X...x...X...x..."), (CLAP, "....X.......X..."),
                    (HAT, "x.x.x.x.x.x.x.x."), (OPEN_HAT, "..x...x...x...x."))),
    "ballad": Style(((1, 5, 6, 4), (1, 6, 4, 5), (1, 4, 1, 5), (6, 4, 1, 5)), 3, 1, "arp", "half",
                    0.0, 8, 0.4, (73, 0, 33),
                    ((KICK, "X.......x......."), (RIM, "....x.......x..."),
                     (HAT, "x...x...x...x..."))),
    "jazz": Style(((2, 5, 1, 1), (1, 6, 2, 5), (3, 6, 2, 5), (4, 7, 3, 6)), 4, 1, "comp", "walk",
                  0.33, 8, 0.6, (65, 0, 32),
                  ((RIDE, "X...x.x.X...x.x."), (PEDAL_HAT, "....x.......x..."),
                   (KICK, "o...o...o...o..."))),
    "folk": Style(((1, 4, 1, 5), (1, 5, 4, 1), (1, 4, 5, 1), (6, 4, 1, 5)), 3, 1, "strum", "half",
                  0.05, 8, 0.5, (40, 25, 32),
                  ((KICK, "X.......x......."), (SNARE, "....x.......x..."),
                   (HAT, "x...x...x...x..."))),
    "rock": Style(((1, 4, 5, 4), (1, 5, 6, 4), (1, 4, 1, 5), (6, 4, 1, 5)), 3, 1, "strum",
                  "eighths", 0.0, 8, 0.55, (81, 29, 33),
                  ((KICK, "X.....x.X......."), (SNARE, "....X.......X..."),
                   (HAT, "x.x.x.x.x.x.x.x."))),
    "ambient": Style(((1, 4), (1, 6), (4, 1), (1, 5, 6, 4)), 4, 2, "pad", "whole", 0.0, 8, 0.25,
                     (11, 89, 38), ((KICK, "o..............."), (HAT, "..o.....o....o.."))),
    "pop": Style(((1, 5, 6, 4), (6, 4, 1, 5), (1, 6, 4, 5), (4, 1, 5, 6)), 3, 1, "pulse",
                 "eighths", 0.02, 16, 0.55, (80, 0, 33),
                 ((KICK, "X.....x.X......."), (SNARE, "....X.......X..."),
                  (HAT, "x.x.x.x.x.x.x.x."))),
}

MOOD_SHIFT = {  # mood nudges energy and density: (energy offset, density factor)
    "moody": (-0.05, 0.9), "sad": (-0.15, 0.8), "happy": (0.1, 1.1), "dark": (-0.05, 0.9),
    "dreamy": (-0.1, 0.8), "energetic": (0.2, 1.25), "calm": (-0.2, 0.75), "tense": (0.1, 1.0),
    "fragile": (-0.2, 0.7), "uplifting": (0.15, 1.1),
}


def swing_for(style: Style, tempo_bpm: float) -> float:
    """Swing fades from the style's amount at slow tempi to nearly straight when fast."""
    fade = min(1.0, max(0.15, (150.0 - tempo_bpm) / 70.0))
    return round(style.swing * fade, 4)
