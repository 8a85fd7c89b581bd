"""What a configured model path holds, read from its files alone: which diffusers pipeline,
which weights. A leaf (stdlib only), so that a job is refused at submit, before any weights
load, when its model folder is missing, holds no safetensors or is of the wrong pipeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# The pipelines each kind loads, by the class name a folder's model_index.json gives.
FAMILIES = {
    "image": ("StableDiffusionPipeline",),
    "audio": ("StableAudioPipeline", "AudioLDMPipeline"),
}
# Components that are no network (nothing to load weights for), or that the farm leaves out.
_NOT_WEIGHTS = {"scheduler", "tokenizer", "tokenizer_2", "feature_extractor", "safety_checker"}


class BadModelFolder(ValueError):
    """The model path cannot be loaded as the kind's pipeline; the message says how to fix it."""


@dataclass(frozen=True)
class ModelFolder:
    path: Path  # resolved: the folder, or the single .safetensors file
    pipeline: str  # the diffusers pipeline class
    weights: tuple[Path, ...]  # every .safetensors file the pipeline loads
    config_path: Path | None = None  # a single-file checkpoint's local diffusers config folder

    @property
    def single_file(self) -> bool:
        return self.path.is_file()

    @property
    def name(self) -> str:
        return self.path.stem if self.single_file else self.path.name

    @property
    def weights_bytes(self) -> int:
        return sum(w.stat().st_size for w in self.weights)

    def max_audio_seconds(self) -> float | None:
        """The longest clip a Stable Audio folder makes in one go, from its configs (latent
        frames times the VAE's hop, over its rate); None when the folder sets no such cap."""
        if self.pipeline != "StableAudioPipeline":
            return None
        try:
            transformer = json.loads((self.path / "transformer" / "config.json").read_text())
            vae = json.loads((self.path / "vae" / "config.json").read_text())
            hop = 1
            for ratio in vae["downsampling_ratios"]:
                hop *= int(ratio)
            return float(transformer["sample_size"]) * hop / float(vae["sampling_rate"])
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
            return None  # the pipeline says so when it loads


def inspect_model(path: Path | None, kind: str, config_path: Path | None = None) -> ModelFolder:
    setting = f"{kind}.model_path"
    if path is None:
        raise BadModelFolder(
            f"{setting} is not set; point it at a diffusers folder (with model_index.json) in "
            f"farm.yaml or FARM_{kind.upper()}__MODEL_PATH, or make a tiny one with "
            "farm models tiny DIR")
    path = path.expanduser()
    if not path.exists():
        raise BadModelFolder(f"{setting} {str(path)[:300]!r} does not exist")
    path = path.resolve()
    if path.is_file():
        return _single_file(path, kind, config_path)
    pipeline = _pipeline_class(path, setting, kind)
    return ModelFolder(path, pipeline, _weights(path, setting))


def _pipeline_class(folder: Path, setting: str, kind: str) -> str:
    index = folder / "model_index.json"
    where = str(folder)[:300]
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadModelFolder(f"{setting} {where!r} has no model_index.json: it is not a diffusers "
                             "pipeline folder") from None
    except (OSError, ValueError) as exc:
        raise BadModelFolder(f"{setting}: cannot read {str(index)[:300]!r}: {exc}") from None
    name = doc.get("_class_name") if isinstance(doc, dict) else None
    if name not in FAMILIES[kind]:
        raise BadModelFolder(
            f"{setting} {where!r} holds a {str(name)[:60]}, not a {kind} pipeline "
            f"({' or '.join(FAMILIES[kind])})")
    return str(name)


def _weights(folder: Path, setting: str) -> tuple[Path, ...]:
    """Every network component's .safetensors; a component with only pickled weights is
    refused (pickles can run code when loaded)."""
    found: list[Path] = []
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    for component, value in sorted(index.items()):
        if component.startswith("_") or component in _NOT_WEIGHTS or not isinstance(value, list) \
                or not value or value[0] is None or not (folder / component / "config.json").is_file():
            continue
        files = sorted((folder / component).glob("*.safetensors"))
        if not files:
            pickled = any((folder / component).glob("*.bin"))
            raise BadModelFolder(
                f"{setting}: component {component!r} of {str(folder)[:200]!r} has no "
                ".safetensors weights" + (" (only .bin, which the farm does not load; convert "
                                          "it to safetensors)" if pickled else ""))
        found += files
    if not found:
        raise BadModelFolder(f"{setting} {str(folder)[:300]!r} holds no .safetensors weights")
    return tuple(found)


def _single_file(path: Path, kind: str, config_path: Path | None) -> ModelFolder:
    setting = f"{kind}.model_path"
    if path.suffix.lower() != ".safetensors":
        hint = (" (a pickled .ckpt can run code when loaded; use its .safetensors)"
                if path.suffix.lower() in (".ckpt", ".pt", ".bin") else "")
        raise BadModelFolder(f"{setting} {str(path)[:300]!r} is not a .safetensors file{hint}")
    if kind != "image":
        raise BadModelFolder(f"{setting}: a single-file {kind} checkpoint cannot be loaded "
                             "offline; give the model's diffusers folder")
    if config_path is None:
        raise BadModelFolder(
            f"{setting} is a single-file checkpoint; diffusers needs its configs to load it "
            f"offline: set {kind}.config_path to a local diffusers folder of the same model "
            "family (model_index.json and its components' configs and tokenizer)")
    config_path = config_path.expanduser().resolve()
    if not config_path.is_dir():
        raise BadModelFolder(f"{kind}.config_path {str(config_path)[:300]!r} is not a folder")
    pipeline = _pipeline_class(config_path, f"{kind}.config_path", kind)
    return ModelFolder(path, pipeline, (path,), config_path)
