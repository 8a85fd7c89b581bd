"""Cover art: text to PNG through a local Stable Diffusion 1.5-class pipeline."""

from pipelines.image.pipeline import BadImageRequest, ImagePipeline, ImageRequest, ImageResult

__all__ = ["BadImageRequest", "ImagePipeline", "ImageRequest", "ImageResult"]
