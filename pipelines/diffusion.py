"""What the image and audio pipelines share at run time: the device and dtype, memory options,
loading a diffusers pipeline from local files only, unloading it, and what running out of
device memory means. torch and diffusers are imported inside the functions only.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from pipelines.errors import PipelineError
from pipelines.model_folder import ModelFolder

DTYPES = ("auto", "float32", "float16", "bfloat16")


class ModelLoadFailed(PipelineError):
    """The weights are there but diffusers could not load them as this pipeline."""


class DeviceOutOfMemory(PipelineError):
    """The device ran out of memory; the message names the model and the options that help."""


@dataclass(frozen=True)
class RunOptions:
    """How to place and trim a model: from the kind's section of farm.yaml."""

    device: str = "auto"  # auto: cuda, then mps, then cpu
    dtype: str = "auto"  # auto: float16 on a GPU, float32 on the CPU
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False  # accelerate's model CPU offload, on a GPU only
    threads: int | None = None  # torch's CPU threads (pinned: their count changes low bits)
    section: str = "image"  # the farm.yaml section these came from, for the hints


def pick_device(wanted: str) -> str:
    import torch

    if wanted == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadFailed(f"device {wanted!r} is configured but torch sees no CUDA device; "
                              "set device: auto or cpu")
    return wanted


def pick_dtype(wanted: str, device: str) -> Any:
    import torch

    if wanted == "auto":
        return torch.float32 if device == "cpu" else torch.float16
    return getattr(torch, wanted)


def load_pipeline(pipeline_class: Any, model: ModelFolder, options: RunOptions,
                  **components: Any) -> tuple[Any, str]:
    """A diffusers pipeline from local files only (safetensors, no remote code), in eval mode,
    placed on its device with the configured memory options; returns it and the device."""
    import torch
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()  # a worker's log is no terminal
    transformers_logging.disable_progress_bar()
    if options.threads:
        torch.set_num_threads(options.threads)
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    common = {"local_files_only": True, "dtype": dtype, **components}
    try:
        if model.single_file:
            pipe = pipeline_class.from_single_file(str(model.path), config=str(model.config_path),
                                                   **common)
        else:
            pipe = pipeline_class.from_pretrained(str(model.path), use_safetensors=True, **common)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise ModelLoadFailed(f"cannot load {model.name} as a {model.pipeline}: "
                              f"{_first_line(exc)}") from exc
    for part in pipe.components.values():
        if isinstance(part, torch.nn.Module):
            part.eval()
    try:
        _place(pipe, device, options)
    except Exception as exc:
        forget_frames(exc)  # they hold the half-placed pipeline
        del pipe
        release()
        if is_out_of_memory(exc):
            raise out_of_memory(model.name, device, options.section, "loading it") from None
        raise
    pipe.set_progress_bar_config(disable=True)
    return pipe, device


def _place(pipe: Any, device: str, options: RunOptions) -> None:
    if options.attention_slicing and hasattr(pipe, "enable_attention_slicing"):
        pipe.enable_attention_slicing()
    vae: Any = getattr(pipe, "vae", None)
    if options.vae_slicing and vae is not None and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
    if options.vae_tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if options.cpu_offload and device.startswith("cuda") and _has_accelerate():
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)


def _has_accelerate() -> bool:
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return False
    return True


def generator(device: str, seed: int) -> Any:
    """The seeded generator on the pipeline's device (mps draws on the CPU)."""
    import torch

    return torch.Generator("cpu" if device == "mps" else device).manual_seed(seed)


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def out_of_memory(model: str, device: str, section: str, what: str) -> DeviceOutOfMemory:
    return DeviceOutOfMemory(
        f"{model} ran out of memory on {device} ({what}); in farm.yaml try "
        f"{section}.attention_slicing: true, {section}.vae_tiling: true or "
        f"{section}.cpu_offload: true, or ask for less")


def forget_frames(exc: BaseException | None) -> None:
    """Drop the frames an exception and its causes keep: they hold the tensors of the call
    that failed, and the device memory stays taken for as long as they live."""
    while exc is not None:
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def release() -> None:
    """Give back the device memory of pipelines no longer referenced (drop them first)."""
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def reset_peak_memory(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: str) -> int | None:
    """The most device memory torch held since the last reset; None off CUDA."""
    import torch

    if not device.startswith("cuda"):
        return None
    return int(torch.cuda.max_memory_allocated(device) // 2**20)


def memory_mb(device: str) -> int | None:
    import torch

    if not device.startswith("cuda"):
        return None
    return int(torch.cuda.memory_allocated(device) // 2**20)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
