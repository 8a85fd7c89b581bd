"""The audio pipeline: text to an audio texture (drone, ambient bed) through a local model.

Reads top to bottom: check the request (before any weights), load the folder once as what it
holds (Stable Audio first, AudioLDM as the alternative), then per request check the length
against the model's own limit, draw the waveform from a seeded generator, and finish it as a
loop at a peak-safe level in a PCM WAV with its report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.audio.wav import finish_texture
from pipelines.diffusion import (
    RunOptions,
    generator,
    is_out_of_memory,
    load_pipeline,
    out_of_memory,
    release,
)
from pipelines.diffusion_params import AudioParams, request_problem
from pipelines.errors import PipelineError
from pipelines.model_folder import ModelFolder

OnStep = Callable[[int, int], None]


class BadAudioRequest(PipelineError, ValueError):
    """An audio request outside what the pipeline or its model takes."""


@dataclass(frozen=True)
class AudioRequest:
    prompt: str
    negative_prompt: str = ""
    seconds: float = 10.0
    steps: int = 50
    guidance: float = 7.0
    loop: bool = True
    crossfade_s: float = 1.0
    bit_depth: int = 24
    seed: int = 0

    def check(self) -> None:
        """The same bounds as the job's params, before a tensor is touched."""
        fields = {k: v for k, v in self.__dict__.items() if k != "seed"}
        if (problem := request_problem(AudioParams, fields)) is not None:
            raise BadAudioRequest(problem)

    @property
    def generated_seconds(self) -> float:
        """What the model must make: a loop spends its crossfade."""
        return self.seconds + (self.crossfade_s if self.loop else 0.0)


@dataclass(frozen=True)
class AudioResult:
    wav: bytes = field(repr=False)
    report: dict[str, Any]
    sample_rate: int
    device: str
    seconds: float  # how long it took


class AudioPipeline:
    def __init__(self) -> None:
        self.pipe: Any = None
        self.device = "cpu"
        self.model: ModelFolder | None = None

    @property
    def loaded(self) -> bool:
        return self.pipe is not None

    def load(self, model: ModelFolder, options: RunOptions) -> None:
        import diffusers

        self.pipe, self.device = load_pipeline(getattr(diffusers, model.pipeline), model, options)
        self.model = model

    @property
    def sample_rate(self) -> int:
        if self.model is not None and self.model.pipeline == "AudioLDMPipeline":
            return int(self.pipe.vocoder.config.sampling_rate)
        return int(self.pipe.vae.config.sampling_rate)

    @property
    def max_seconds(self) -> float:
        """The longest clip the model makes in one go."""
        if self.model is not None and self.model.pipeline == "AudioLDMPipeline":
            return 60.0  # AudioLDM's length is set by the latent height; it has no hard cap
        return float(self.pipe.transformer.config.sample_size * self.pipe.vae.hop_length
                     / self.sample_rate)

    def __call__(self, request: AudioRequest, on_step: OnStep | None = None) -> AudioResult:
        import torch

        request.check()
        if self.pipe is None or self.model is None:
            raise PipelineError("the audio pipeline is not loaded")
        if request.generated_seconds > self.max_seconds:
            spare = " (the loop's crossfade counts)" if request.loop else ""
            raise BadAudioRequest(f"seconds: {self.model.name} makes at most "
                                  f"{self.max_seconds:.2f} s{spare}; ask for less")
        started = time.perf_counter()

        def callback(step: int, timestep: Any, latents: Any) -> None:
            if on_step is not None:
                on_step(step + 1, request.steps)

        try:
            with torch.inference_mode():
                waveform = self._generate(request, callback)
        except Exception as exc:
            if is_out_of_memory(exc):
                raise out_of_memory(self.model.name, self.device, "audio",
                                    f"{request.generated_seconds:g} s") from exc
            raise
        texture = finish_texture(waveform, self.sample_rate, request.seconds, request.loop,
                                 request.crossfade_s, request.bit_depth)
        return AudioResult(texture.wav, texture.report, self.sample_rate, self.device,
                           time.perf_counter() - started)

    def _generate(self, request: AudioRequest, callback: Callable[..., None]) -> Any:
        """The waveform as (channels, samples) floats."""
        assert self.model is not None
        common = {"prompt": request.prompt, "negative_prompt": request.negative_prompt or None,
                  "num_inference_steps": request.steps, "guidance_scale": request.guidance,
                  "generator": generator(self.device, request.seed),
                  "callback": callback, "callback_steps": 1}
        if self.model.pipeline == "AudioLDMPipeline":  # its length rounds to whole latent rows
            audio = self.pipe(audio_length_in_s=request.generated_seconds + 0.05, output_type="np",
                              **common).audios[0]
            return audio.reshape(1, -1)
        audio = self.pipe(audio_end_in_s=request.generated_seconds, output_type="pt",
                          **common).audios[0]
        return audio.float().cpu().numpy()

    def unload(self) -> None:
        had = self.pipe is not None
        self.pipe, self.model = None, None  # the last reference: gone before the cache is emptied
        if had:
            release()
