"""Per-genre and per-mood tables: progressions, rhythms, registers, instruments and feel."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.midi.meter import EIGHTH, PPQ, SIXTEENTH


@dataclass(frozen=True)
class Progression:
    """Roman numerals relative to the mode, and how many bars each chord lasts."""

    chords: tuple[str, ...]
    bars_per_chord: float = 1.0


def _p(text: str, bars_per_chord: float = 1.0) -> Progression:
    return Progression(tuple(text.split()), bars_per_chord)


@dataclass(frozen=True)
class Style:
    """Everything genre-specific the part writers read."""

    major: tuple[Progression, ...]
    minor: tuple[Progression, ...]
    comp: str  # chord-track rhythm: pad keys stabs jazz arp strum power pulse
    bass: str  # bass rhythm: locked pump walk root5 eighths drone
    drums: str  # drum pattern family, see drums.py
    programs: tuple[int, int, int]  # GM programs (0-based) for melody, chords, bass
    swing: float  # swing at slow tempi; faster tempi straighten it
    swing_unit: int  # ticks of the subdivision that swings
    melody_grid: int  # shortest melody note, in ticks
    melody_density: float  # 0..1, how many grid slots a motif fills
    motif_bars: int
    melody_center: int  # MIDI pitch the melody's range is centred on
    chord_register: tuple[int, int]
    pickup: float  # chance a motif starts after the downbeat
    laid_back_ms: float = 0.0  # snare and melody sit this far behind the beat
    fills: bool = True


# Keyed by the vocabulary's GENRES; a test keeps the two equal.
STYLES: dict[str, Style] = {
    "triphop": Style(
        major=(_p("I7 vi7 IV7 V"), _p("vi7 IV7 I7 V"), _p("I7 IV7 vi7 V"), _p("vi7 ii7 IV7 V"),
               _p("IV7 vi7 I7 V")),
        minor=(_p("i7 VI7 III7 VII"), _p("i iv v i"), _p("i7 i7 VI7 v7"), _p("i VII VI VII")),
        comp="keys", bass="locked", drums="triphop", programs=(11, 4, 38),
        swing=0.22, swing_unit=SIXTEENTH, melody_grid=EIGHTH, melody_density=0.38,
        motif_bars=1, melody_center=67, chord_register=(50, 74), pickup=0.5, laid_back_ms=6.0,
    ),
    "lofi": Style(
        major=(_p("ii7 V7 I7 vi7"), _p("IV7 iii7 ii7 I7"), _p("I7 vi7 ii7 V7"), _p("I7 IV7 iii7 vi7"),
               _p("vi7 ii7 V7 I7")),
        minor=(_p("i7 iv7 VII7 III7"), _p("ii7 v7 i7 i7"), _p("i7 VI7 iv7 v7"), _p("iv7 VII7 III7 VI7"),
               _p("i7 v7 VI7 iv7")),
        comp="keys", bass="locked", drums="boombap", programs=(26, 4, 32),
        swing=0.3, swing_unit=EIGHTH, melody_grid=EIGHTH, melody_density=0.42,
        motif_bars=1, melody_center=69, chord_register=(52, 76), pickup=0.4, laid_back_ms=12.0,
    ),
    "house": Style(
        major=(_p("vi7 IV7 I7 V7"), _p("I7 vi7 IV7 V"), _p("ii7 V7 I7 I7"), _p("IV7 I7 ii7 vi7"),
               _p("I7 iii7 vi7 IV7"), _p("I7 IV7 vi7 V7"), _p("vi7 V7 IV7 V7"), _p("ii7 iii7 IV7 V7")),
        minor=(_p("i7 VII7 VI7 VII7"), _p("i7 iv7 i7 v7"), _p("i7 VI7 III7 VII7"), _p("iv7 v7 i7 VI7"),
               _p("i7 III7 iv7 VII7"), _p("i7 v7 VI7 iv7"), _p("VI7 VII7 i7 v7"), _p("i7 iv7 VII7 III7")),
        comp="stabs", bass="pump", drums="four", programs=(81, 1, 38),
        swing=0.08, swing_unit=SIXTEENTH, melody_grid=SIXTEENTH, melody_density=0.45,
        motif_bars=1, melody_center=72, chord_register=(55, 79), pickup=0.3,
    ),
    "ballad": Style(
        major=(_p("I V vi IV"), _p("I vi IV V"), _p("vi IV I V"), _p("I IV vi V"), _p("I iii IV V"),
               _p("IV V iii vi"), _p("I ii IV V"), _p("vi V IV V"), _p("I iii vi IV"), _p("I vi ii V"),
               _p("IV I V vi")),
        minor=(_p("i VI III VII"), _p("i iv VI V"), _p("i VII VI VII"), _p("i v iv VI"),
               _p("VI VII i iv"), _p("i III VII iv"), _p("i VI iv V"), _p("iv i VII III")),
        comp="arp", bass="root5", drums="ballad", programs=(40, 0, 32),
        swing=0.12, swing_unit=EIGHTH, melody_grid=EIGHTH, melody_density=0.4,
        motif_bars=1, melody_center=69, chord_register=(52, 76), pickup=0.35,
    ),
    "jazz": Style(
        major=(_p("ii7 V7 I7 I7"), _p("I7 vi7 ii7 V7"), _p("iii7 vi7 ii7 V7"), _p("I7 IV7 iii7 vi7"),
               _p("ii7 V7 iii7 vi7"), _p("IV7 iii7 ii7 V7")),
        minor=(_p("ii7 V7 i7 i7"), _p("i7 iv7 ii7 V7"), _p("i7 VI7 ii7 V7"), _p("iv7 VII7 III7 VI7"),
               _p("ii7 V7 i7 VI7"), _p("i7 iv7 VII7 III7")),
        comp="jazz", bass="walk", drums="jazz", programs=(65, 0, 32),
        swing=0.33, swing_unit=EIGHTH, melody_grid=EIGHTH, melody_density=0.55,
        motif_bars=1, melody_center=67, chord_register=(50, 74), pickup=0.5,
    ),
    "folk": Style(
        major=(_p("I IV I V"), _p("I V IV I"), _p("I vi IV V"), _p("I IV V I"), _p("I ii V I"),
               _p("IV I V vi"), _p("I V vi iii"), _p("I IV vi V"), _p("vi IV I V")),
        minor=(_p("i VII i v"), _p("i III VII i"), _p("i iv i v"), _p("i VII VI VII"),
               _p("i III iv i"), _p("III VII i v"), _p("i VI III VII"), _p("i iv VII III"),
               _p("i VI VII i"), _p("i v iv i")),
        comp="strum", bass="root5", drums="folk", programs=(73, 25, 32),
        swing=0.1, swing_unit=EIGHTH, melody_grid=EIGHTH, melody_density=0.5,
        motif_bars=1, melody_center=69, chord_register=(52, 72), pickup=0.3,
    ),
    "rock": Style(
        major=(_p("I IV V IV"), _p("I V vi IV"), _p("vi IV I V"), _p("I iii IV V"), _p("IV I V V"),
               _p("I vi ii V"), _p("ii IV I V")),
        minor=(_p("i VI VII i"), _p("i VII VI VII"), _p("i iv VII III"), _p("i v VI iv"),
               _p("VI III VII i")),
        comp="power", bass="eighths", drums="backbeat", programs=(30, 29, 34),
        swing=0.0, swing_unit=EIGHTH, melody_grid=EIGHTH, melody_density=0.5,
        motif_bars=1, melody_center=67, chord_register=(40, 64), pickup=0.3,
    ),
    "ambient": Style(
        major=(_p("I7 IV7", 2), _p("Iadd9 vi7 IV7 IV7", 2), _p("I7 iii7 IV7 IV7", 2),
               _p("Iadd9 iii7 vi7 IV7", 2), _p("vi7 IV7 I7 V", 2), _p("IV7 I7 ii7 vi7", 2)),
        minor=(_p("i7 VI7", 2), _p("iadd9 III7 VI7 VII", 2), _p("i7 iv7 VI7 VI7", 2),
               _p("i7 v7 VI7 III7", 2), _p("VI7 III7 VII i7", 2), _p("iadd9 VII VI7 iv7", 2)),
        comp="pad", bass="drone", drums="ambient", programs=(75, 89, 38),
        swing=0.0, swing_unit=EIGHTH, melody_grid=PPQ,
        melody_density=0.3, motif_bars=2, melody_center=72, chord_register=(48, 76),
        pickup=0.6, fills=False,
    ),
    "pop": Style(
        major=(_p("I V vi IV"), _p("vi IV I V"), _p("I vi IV V"), _p("IV I V vi")),
        minor=(_p("i VI III VII"), _p("VI VII i i"), _p("i iv VI V")),
        comp="pulse", bass="locked", drums="pop", programs=(80, 0, 33),
        swing=0.06, swing_unit=SIXTEENTH, melody_grid=EIGHTH, melody_density=0.5,
        motif_bars=1, melody_center=69, chord_register=(52, 76), pickup=0.35,
    ),
}


@dataclass(frozen=True)
class Mood:
    """How a mood bends the genre: energy, melody density, register, colour and velocity."""

    energy: float
    density: float
    register: int
    color: bool  # add sevenths/ninths to plain triads
    velocity: int


# Keyed by the vocabulary's MOODS; a test keeps the two equal.
MOOD_TABLE: dict[str, Mood] = {
    "moody": Mood(energy=-0.05, density=0.9, register=-2, color=True, velocity=-4),
    "sad": Mood(energy=-0.12, density=0.8, register=-3, color=False, velocity=-8),
    "happy": Mood(energy=0.08, density=1.1, register=2, color=False, velocity=4),
    "dark": Mood(energy=-0.02, density=0.85, register=-5, color=False, velocity=0),
    "dreamy": Mood(energy=-0.1, density=0.8, register=3, color=True, velocity=-8),
    "energetic": Mood(energy=0.18, density=1.2, register=2, color=False, velocity=8),
    "calm": Mood(energy=-0.15, density=0.75, register=0, color=True, velocity=-10),
    "tense": Mood(energy=0.05, density=1.1, register=-1, color=False, velocity=2),
    "fragile": Mood(energy=-0.2, density=0.7, register=4, color=True, velocity=-14),
    "uplifting": Mood(energy=0.1, density=1.05, register=3, color=False, velocity=5),
}


def default_swing(style: Style, tempo_bpm: float) -> float:
    """The style's swing, strongest at slow tempi and nearly straight when fast."""
    factor = min(1.0, max(0.15, (150.0 - tempo_bpm) / 70.0))
    return round(style.swing * factor, 4)
