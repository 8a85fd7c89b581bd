"""A piano-roll picture of a piece (PNG bytes): notes coloured by role, bar lines, section names and
chord symbols on top, drums in a lane of their own. People would rather look than read.

Pillow is imported when a picture is drawn, so a `midi` worker that never draws stays light.
"""

from __future__ import annotations

import io
from typing import Any

from pipelines.midi.canonical import song_ticks

ROLE_COLOURS = {"melody": (222, 74, 56), "chords": (66, 126, 204), "bass": (44, 150, 84),
                "drums": (120, 120, 120)}
OTHER_COLOUR = (150, 90, 180)
BACKGROUND, BAR_LINE, BEAT_LINE, TEXT = (252, 251, 247), (150, 150, 150), (228, 226, 220), (30, 30, 30)
HEADER, SEMITONE, DRUM_ROW, MAX_WIDTH = 34, 5, 5, 4096


def _bar_ticks(music: dict[str, Any], end: int) -> list[int]:
    sigs, ppq = music["time_signature_map"], music["ppq"]
    ticks, bars = [0], 1
    while ticks[-1] < end:
        ticks.append(song_ticks(sigs, ppq, bars))
        bars += 1
    return ticks


def _notes(music: dict[str, Any], drums: bool) -> list[tuple[str, dict[str, int]]]:
    return [(t["role"], n) for t in music["tracks"] for n in t["notes"] if (t["role"] == "drums") == drums]


def _shade(colour: tuple[int, int, int], velocity: int) -> tuple[int, int, int]:
    """Louder notes darker: the colour mixed with the background by velocity."""
    weight = 0.35 + 0.65 * min(127, max(1, velocity)) / 127
    return tuple(round(c * weight + b * (1 - weight)) for c, b in zip(colour, BACKGROUND, strict=True))  # type: ignore[return-value]


def render_pianoroll(music: dict[str, Any]) -> bytes:
    """The picture of a canonical music document, as PNG bytes; the same document, the same bytes."""
    from PIL import Image, ImageDraw, ImageFont

    pitched, drums = _notes(music, drums=False), _notes(music, drums=True)
    end = max((n["tick"] + n["duration"] for _, n in pitched + drums), default=music["ppq"] * 4)
    bars = _bar_ticks(music, end)
    end = bars[-1]
    scale = min(96 * (len(bars) - 1), MAX_WIDTH) / end  # pixels per tick
    low = min((n["pitch"] for _, n in pitched), default=60) - 2
    high = max((n["pitch"] for _, n in pitched), default=72) + 2
    drum_pitches = sorted({n["pitch"] for _, n in drums})
    roll_bottom = HEADER + (high - low + 1) * SEMITONE
    height = roll_bottom + (len(drum_pitches) * DRUM_ROW + 6 if drum_pitches else 0) + 2
    image = Image.new("RGB", (round(end * scale) + 1, height), BACKGROUND)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    _grid(draw, music, bars, scale, height)
    for role, note in pitched:
        y = HEADER + (high - note["pitch"]) * SEMITONE
        x0, x1 = note["tick"] * scale, (note["tick"] + note["duration"]) * scale
        draw.rectangle((x0, y, max(x0 + 1, x1 - 1), y + SEMITONE - 2),
                       fill=_shade(ROLE_COLOURS.get(role, OTHER_COLOUR), note["velocity"]))
    if drum_pitches:
        draw.line((0, roll_bottom + 2, image.width, roll_bottom + 2), fill=BAR_LINE)
        for _, note in drums:
            y = roll_bottom + 5 + drum_pitches.index(note["pitch"]) * DRUM_ROW
            x = note["tick"] * scale
            colour = _shade(ROLE_COLOURS["drums"], note["velocity"])
            draw.rectangle((x, y, x + 2, y + DRUM_ROW - 2), fill=colour)
    _labels(draw, font, music, scale)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _grid(draw: Any, music: dict[str, Any], bars: list[int], scale: float, height: int) -> None:
    """Beat lines light, bar lines darker, both under the notes."""
    ppq = music["ppq"]
    for start, stop in zip(bars, bars[1:], strict=False):
        for beat in range(start + ppq, stop, ppq):
            draw.line((beat * scale, HEADER, beat * scale, height), fill=BEAT_LINE)
    for tick in bars:
        draw.line((tick * scale, HEADER - 6, tick * scale, height), fill=BAR_LINE)


def _labels(draw: Any, font: Any, music: dict[str, Any], scale: float) -> None:
    """Section names on the first line of the header, chord symbols on the second; a label that
    would run into the one before it is left out."""
    for row, items in ((2, [(s["tick"], s["name"]) for s in music.get("sections") or []]),
                       (16, [(c["tick"], c["symbol"]) for c in music.get("chords") or []])):
        right = -1.0
        for tick, text in sorted(items, key=lambda item: item[0]):
            x = tick * scale + 2
            if x <= right or not text:
                continue
            draw.text((x, row), text, fill=TEXT, font=font)
            right = x + draw.textlength(text, font=font) + 4
