"""Audio textures: text to a loopable WAV through a local Stable Audio or AudioLDM pipeline."""

from pipelines.audio.pipeline import AudioPipeline, AudioRequest, AudioResult, BadAudioRequest

__all__ = ["AudioPipeline", "AudioRequest", "AudioResult", "BadAudioRequest"]
