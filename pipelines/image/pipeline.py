"""The image pipeline: text to cover art through a local Stable Diffusion 1.5-class model.

Reads top to bottom: check the request (before any weights), load the folder (or a single
.safetensors file with its local config folder) once, then per request set the scheduler, draw
each image from its own seeded generator on the pipeline's device, and write PNGs whose text
chunk carries their generation parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.diffusion import (
    RunOptions,
    generator,
    is_out_of_memory,
    load_pipeline,
    out_of_memory,
    release,
)
from pipelines.diffusion_params import SCHEDULERS, ImageParams, request_problem
from pipelines.errors import PipelineError
from pipelines.image.png import parameters_text, png_with_parameters
from pipelines.model_folder import ModelFolder

OnStep = Callable[[int, int], None]  # (steps done, steps in all)


class BadImageRequest(PipelineError, ValueError):
    """An image request outside what the pipeline takes."""


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str = ""
    steps: int = 25
    guidance: float = 7.0
    width: int = 512
    height: int = 512
    scheduler: str = "dpmpp_2m"
    images: int = 1
    seed: int = 0

    def check(self) -> None:
        """The same bounds as the job's params, before a tensor is touched."""
        fields = {k: v for k, v in self.__dict__.items() if k != "seed"}
        if (problem := request_problem(ImageParams, fields)) is not None:
            raise BadImageRequest(problem)


@dataclass(frozen=True)
class RenderedImage:
    png: bytes = field(repr=False)
    seed: int
    parameters: dict[str, Any]  # what the PNG's text chunk says, as fields


@dataclass(frozen=True)
class ImageResult:
    images: list[RenderedImage]
    device: str
    seconds: float


class ImagePipeline:
    """load(model, options, label) once; then call it per request; unload() gives VRAM back."""

    def __init__(self) -> None:
        self.pipe: Any = None
        self.device = "cpu"
        self.model: ModelFolder | None = None
        self.model_hash = ""
        self._scheduler_config: Any = None

    @property
    def loaded(self) -> bool:
        return self.pipe is not None

    def load(self, model: ModelFolder, options: RunOptions, model_hash: str = "",
             safety_checker: bool = False) -> None:
        from diffusers import StableDiffusionPipeline

        extra = {} if safety_checker else {"safety_checker": None, "feature_extractor": None,
                                           "requires_safety_checker": False}
        self.pipe, self.device = load_pipeline(StableDiffusionPipeline, model, options, **extra)
        self.model, self.model_hash = model, model_hash
        self._scheduler_config = self.pipe.scheduler.config

    def __call__(self, request: ImageRequest, on_step: OnStep | None = None) -> ImageResult:
        import torch

        request.check()
        if self.pipe is None or self.model is None:
            raise PipelineError("the image pipeline is not loaded")
        started = time.perf_counter()
        self.pipe.scheduler = _scheduler(request.scheduler, self._scheduler_config)
        seeds = [request.seed + i for i in range(request.images)]

        def step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict:
            if on_step is not None:
                on_step(step + 1, request.steps)
            return tensors

        try:
            with torch.inference_mode():
                images = self.pipe(
                    prompt=request.prompt, negative_prompt=request.negative_prompt or None,
                    num_inference_steps=request.steps, guidance_scale=request.guidance,
                    width=request.width, height=request.height,
                    num_images_per_prompt=request.images,
                    generator=[generator(self.device, seed) for seed in seeds],
                    callback_on_step_end=step_end, output_type="pil",
                ).images
        except Exception as exc:
            if is_out_of_memory(exc):
                raise out_of_memory(self.model.name, self.device, "image",
                                    f"{request.images} x {request.width}x{request.height}") \
                    from exc
            raise
        rendered = [self._png(image, request, seed) for image, seed in zip(images, seeds,
                                                                             strict=True)]
        return ImageResult(rendered, self.device, time.perf_counter() - started)

    def _png(self, image: Any, request: ImageRequest, seed: int) -> RenderedImage:
        assert self.model is not None
        params = {
            "prompt": request.prompt, "negative_prompt": request.negative_prompt,
            "steps": request.steps, "sampler": SCHEDULERS[request.scheduler],
            "cfg_scale": request.guidance, "seed": seed, "width": request.width,
            "height": request.height, "model_hash": self.model_hash[:10],
            "model": self.model.name,
        }
        return RenderedImage(png_with_parameters(image, parameters_text(params)), seed, params)

    def unload(self) -> None:
        had = self.pipe is not None
        self.pipe, self.model = None, None  # the last reference: gone before the cache is emptied
        if had:
            release()


def _scheduler(name: str, config: Any) -> Any:
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
    )

    if name.startswith("dpmpp_2m"):
        return DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2,
            use_karras_sigmas=name.endswith("karras"))
    return {"euler_a": EulerAncestralDiscreteScheduler, "euler": EulerDiscreteScheduler,
            "ddim": DDIMScheduler}[name].from_config(config)
