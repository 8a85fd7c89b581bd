"""From a model's waveform to a texture worth keeping: a seamless loop, peak-safe level, PCM WAV,
and a report of its loudness and of the seam. numpy only (pyloudnorm for the loudness).
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np

PEAK_DBFS = -1.0  # the level the loudest sample is brought to: headroom, never a clip
MAX_BOOST_DB = 30.0  # a near-silent render is not raised into a wall of its own noise floor


@dataclass(frozen=True)
class Texture:
    wav: bytes
    report: dict[str, Any]


def make_loop(samples: np.ndarray, crossfade: int) -> np.ndarray:
    """The waveform (channels, n) as a loop of n - crossfade samples: its tail is crossfaded
    (equal power) into its head, so the last sample runs on into the first."""
    n = samples.shape[1]
    if not 0 < crossfade < n // 2:
        raise ValueError(f"a crossfade of {crossfade} samples does not fit {n} samples")
    t = np.linspace(0.0, 1.0, crossfade, endpoint=False)
    fade_in, fade_out = np.sin(t * np.pi / 2), np.cos(t * np.pi / 2)
    loop = samples[:, : n - crossfade].copy()
    loop[:, :crossfade] = samples[:, :crossfade] * fade_in + samples[:, n - crossfade:] * fade_out
    return loop


def seam(samples: np.ndarray) -> dict[str, float]:
    """How the end meets the start when the clip repeats, against the clip's own steps:
    `ratio` near 1 or below is a seam the ear does not find; a click is tens to hundreds."""
    steps = np.abs(np.diff(samples, axis=1))
    jump = float(np.max(np.abs(samples[:, 0] - samples[:, -1])))
    typical = float(np.percentile(steps, 99)) if steps.size else 0.0
    return {"jump": round(jump, 6), "p99_step": round(typical, 6),
            "ratio": round(jump / typical, 3) if typical > 0 else 0.0}


def peak_normalise(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """Scaled so the loudest sample sits at PEAK_DBFS (raised by at most MAX_BOOST_DB);
    returns it and the gain in dB."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if not np.isfinite(peak) or peak == 0.0:
        return np.zeros_like(samples), 0.0
    gain = min(10 ** (PEAK_DBFS / 20) / peak, 10 ** (MAX_BOOST_DB / 20))
    return samples * gain, 20 * math.log10(gain)


def pcm_wav(samples: np.ndarray, rate: int, bit_depth: int) -> bytes:
    """(channels, n) floats in [-1, 1] as little-endian 16- or 24-bit PCM."""
    clipped = np.clip(samples, -1.0, 1.0).T  # frames, channels
    if bit_depth == 16:
        frames = np.round(clipped * 32767).astype("<i2").tobytes()
    elif bit_depth == 24:
        ints = np.round(clipped * 8388607).astype("<i4").reshape(-1, 1).view(np.uint8)
        frames = ints.reshape(-1, 4)[:, :3].tobytes()
    else:
        raise ValueError(f"bit depth {bit_depth}: 16 or 24")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(samples.shape[0])
        writer.setsampwidth(bit_depth // 8)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return out.getvalue()


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """A 16- or 24-bit PCM WAV back to (channels, n) floats, and its rate."""
    with wave.open(io.BytesIO(data), "rb") as reader:
        width, channels, rate = reader.getsampwidth(), reader.getnchannels(), reader.getframerate()
        raw = reader.readframes(reader.getnframes())
    if width == 2:
        ints = np.frombuffer(raw, "<i2").astype(np.float64) / 32767
    else:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        padded = np.zeros((bytes3.shape[0], 4), np.uint8)
        padded[:, :3] = bytes3
        padded[:, 3] = np.where(bytes3[:, 2] >= 128, 255, 0)
        ints = padded.view("<i4").reshape(-1).astype(np.float64) / 8388607
    return ints.reshape(-1, channels).T, rate


def loudness_lufs(samples: np.ndarray, rate: int) -> float | None:
    """Integrated loudness (ITU-R BS.1770); None for a clip shorter than one 400 ms block or
    for silence."""
    import pyloudnorm

    if samples.shape[1] < int(0.4 * rate) + 1:
        return None
    value = pyloudnorm.Meter(rate).integrated_loudness(samples.T)
    return round(float(value), 2) if np.isfinite(value) else None


def finish_texture(samples: np.ndarray, rate: int, seconds: float, loop: bool, crossfade_s: float,
                   bit_depth: int) -> Texture:
    """The model's waveform (channels, n; n covers `seconds` plus the crossfade when looping)
    to the WAV and its report."""
    samples = np.nan_to_num(np.asarray(samples, dtype=np.float64))
    fade = 0
    want = max(1, int(round(seconds * rate)))
    if loop:  # a model may make a little less than asked: the crossfade gives way, not the length
        fade = min(int(round(crossfade_s * rate)), samples.shape[1] - want, want - 1)
        samples = make_loop(samples[:, : want + fade], fade) if fade > 0 else samples[:, :want]
    else:
        samples = samples[:, :want]
    level, gain_db = peak_normalise(samples)
    data = pcm_wav(level, rate, bit_depth)
    written, _ = read_wav(data)
    peak = float(np.max(np.abs(written))) if written.size else 0.0
    report = {
        "sample_rate": rate, "channels": int(level.shape[0]), "bit_depth": bit_depth,
        "seconds": round(level.shape[1] / rate, 4), "loop": loop,
        "crossfade_s": round(fade / rate, 4) if loop and fade > 0 else 0.0,
        "lufs_integrated": loudness_lufs(written, rate),
        "peak_dbfs": round(20 * math.log10(peak), 2) if peak > 0 else None,
        "gain_db": round(gain_db, 2), "clipped_samples": int(np.sum(np.abs(level) > 1.0)),
        "seam": seam(written),
    }
    return Texture(data, report)
