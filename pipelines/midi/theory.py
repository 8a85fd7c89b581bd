"""Pitch, scales and diatonic chords: the small amount of theory the generator needs."""

from __future__ import annotations

PITCH_CLASSES = {
    "C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
    "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11, "Cb": 11,
}
MODE_STEPS = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}
_SHARP_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_FLAT_KEYS = {"F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb", "D#", "G#", "A#"}
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


class Scale:
    """A key and mode: pitch classes, degrees and diatonic chords."""

    def __init__(self, key: str, mode: str) -> None:
        self.key, self.mode = key, mode
        self.tonic = PITCH_CLASSES[key]
        self.steps = MODE_STEPS[mode]
        self.pitch_classes = frozenset((self.tonic + s) % 12 for s in self.steps)
        self._names = _FLAT_NAMES if key in _FLAT_KEYS or "b" in key else _SHARP_NAMES

    def degree_pc(self, degree: int) -> int:
        """Pitch class of a 1-based scale degree (degrees wrap past 7)."""
        octave, index = divmod(degree - 1, 7)
        return (self.tonic + self.steps[index]) % 12

    def pitch(self, degree: int, octave_base: int) -> int:
        """MIDI pitch of a 1-based degree, counted up from the tonic at `octave_base`."""
        octave, index = divmod(degree - 1, 7)
        return octave_base + self.tonic + self.steps[index] + 12 * octave

    def chord_pcs(self, degree: int, size: int) -> list[int]:
        """Diatonic chord on a degree: stacked thirds, root first (size 3 triad, 4 seventh)."""
        return [self.degree_pc(degree + 2 * i) for i in range(size)]

    def chord_symbol(self, degree: int, size: int) -> str:
        pcs = self.chord_pcs(degree, size)
        third, fifth = (pcs[1] - pcs[0]) % 12, (pcs[2] - pcs[0]) % 12
        quality = {(4, 7): "", (3, 7): "m", (3, 6): "dim", (4, 8): "aug"}.get((third, fifth), "")
        if size >= 4:
            seventh = (pcs[3] - pcs[0]) % 12
            quality = {("", 11): "maj7", ("", 10): "7", ("m", 10): "m7", ("dim", 10): "m7b5",
                       ("dim", 9): "dim7", ("m", 11): "mMaj7"}.get((quality, seventh), quality + "7")
        return self._names[pcs[0]] + quality

    def snap(self, pitch: int) -> int:
        """The nearest scale pitch (ties go down)."""
        for offset in (0, -1, 1, -2, 2):
            if (pitch + offset) % 12 in self.pitch_classes:
                return pitch + offset
        return pitch

    def step(self, pitch: int, steps: int) -> int:
        """Move a scale pitch by `steps` scale steps."""
        pitch = self.snap(pitch)
        direction = 1 if steps > 0 else -1
        for _ in range(abs(steps)):
            pitch += direction
            while pitch % 12 not in self.pitch_classes:
                pitch += direction
        return pitch


def nearest_with_pc(target: int, pitch_classes: list[int] | frozenset[int]) -> int:
    """The pitch closest to `target` whose pitch class is one of `pitch_classes`."""
    best = target
    for distance in range(0, 7):
        for candidate in (target - distance, target + distance):
            if candidate % 12 in pitch_classes:
                return candidate
    return best
