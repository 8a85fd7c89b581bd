"""An optional audio preview: MIDI bytes to WAV bytes with the fluidsynth CLI and a General MIDI
soundfont, and a loudness check that tells a silent or clipping render from a healthy one."""

from __future__ import annotations

import array
import io
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.midi.errors import PreviewFailed, PreviewUnavailable

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian fluid-soundfont-gm
SILENT_DBFS = -60.0
CLIP_LEVEL = 32767 * 0.999


def find_fluidsynth() -> str:
    path = shutil.which("fluidsynth")
    if path is None:
        raise PreviewUnavailable("fluidsynth is not installed (Debian: apt-get install fluidsynth)")
    return path


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    path = Path(soundfont) if soundfont else DEFAULT_SOUNDFONT
    if not path.is_file():
        raise PreviewUnavailable(f"soundfont {path} not found (Debian: apt-get install fluid-soundfont-gm)")
    return path


def render_wav(midi: bytes, soundfont: str | Path | None = None, gain: float = 0.5,
               sample_rate: int = 44100, timeout_s: float = 300.0) -> bytes:
    """WAV bytes (16-bit stereo) of a MIDI file as fluidsynth plays it with the soundfont."""
    binary, font = find_fluidsynth(), find_soundfont(soundfont)
    with tempfile.TemporaryDirectory(prefix="farm-preview-") as tmp:
        source, target = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        source.write_bytes(midi)
        command = [binary, "-ni", "-q", "-F", str(target), "-r", str(sample_rate), "-g", f"{gain:g}",
                   str(font), str(source)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PreviewFailed(f"fluidsynth took longer than {timeout_s:g} s") from exc
        if done.returncode != 0 or not target.is_file() or target.stat().st_size <= 44:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise PreviewFailed(f"fluidsynth exited {done.returncode}: {tail[0]}")
        return target.read_bytes()


@dataclass(frozen=True)
class Loudness:
    """Figures of a render: loudness, peak, clipping, brightness, and the verdicts drawn from them."""

    duration_s: float
    rms_dbfs: float
    peak_dbfs: float
    clipped_fraction: float
    spectral_centroid_hz: float | None
    silent: bool
    clipping: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dbfs(level: float) -> float:
    return round(20 * math.log10(level), 2) if level > 0 else -math.inf


def _mono(wav_bytes: bytes) -> tuple[array.array[int], int]:
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        if reader.getsampwidth() != 2:
            raise PreviewFailed(f"expected 16-bit WAV, got {8 * reader.getsampwidth()}-bit")
        channels, rate = reader.getnchannels(), reader.getframerate()
        samples = array.array("h", reader.readframes(reader.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    return samples, channels * rate


def spectral_centroid(samples: array.array[int], channels: int, rate: int) -> float | None:
    """Magnitude-weighted mean frequency of the first channel, over 2048-sample frames (numpy)."""
    try:
        import numpy as np
    except ImportError:
        return None
    mono = np.frombuffer(samples.tobytes(), dtype="<i2")[::channels].astype(np.float64)
    frames = len(mono) // 2048
    if frames == 0:
        return None
    blocks = mono[:frames * 2048].reshape(frames, 2048) * np.hanning(2048)
    spectrum = np.abs(np.fft.rfft(blocks, axis=1)).sum(axis=0)
    freqs = np.fft.rfftfreq(2048, 1 / rate)
    return round(float((spectrum * freqs).sum() / spectrum.sum()), 1) if spectrum.sum() else None


def loudness_check(wav_bytes: bytes) -> Loudness:
    """RMS and peak in dBFS, the share of clipped samples and the spectral centroid of a WAV."""
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        channels, rate = reader.getnchannels(), reader.getframerate()
    samples, per_second = _mono(wav_bytes)
    if not samples:
        return Loudness(0.0, -math.inf, -math.inf, 0.0, None, True, False)
    peak = max(abs(min(samples)), max(samples))
    rms = math.sqrt(math.fsum(s * s for s in samples) / len(samples))
    clipped = sum(1 for s in samples if abs(s) >= CLIP_LEVEL) / len(samples)
    rms_dbfs = _dbfs(rms / 32768)
    return Loudness(
        duration_s=round(len(samples) / per_second, 3), rms_dbfs=rms_dbfs,
        peak_dbfs=_dbfs(peak / 32768), clipped_fraction=round(clipped, 6),
        spectral_centroid_hz=spectral_centroid(samples, channels, rate),
        silent=rms_dbfs < SILENT_DBFS, clipping=clipped > 1e-4,
    )
