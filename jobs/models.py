"""`farm models`: the registry of what the farm loads. A model is registered by hand
(`farm models add`) or when a worker first loads it; a GPU adds its measured peak VRAM, which
the lease then uses instead of a declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.config import FarmSettings
from jobs.errors import BadJobSpec
from jobs.home import ensure_home, open_catalog
from pipelines.model_folder import FAMILIES, BadModelFolder, ModelFolder, inspect_model
from storage.weights import weights_sha256


def add_model(settings: FarmSettings, path: Path) -> dict[str, Any]:
    """Register a diffusers folder or .safetensors file: which kind loads it, and its hash."""
    kind, model = _recognise(path, settings)
    ensure_home(settings)
    try:
        sha256 = weights_sha256(model.path, model.weights, settings.weights_hash_cache)
    except OSError as exc:
        raise BadJobSpec(f"cannot read the weights of {model.name}: {exc.strerror or exc}") from None
    catalog = open_catalog(settings)
    catalog.record_model(model.name, str(model.path), sha256, None, None, kind)
    found = catalog.model(sha256)
    assert found is not None
    return _row(found)


def list_models(settings: FarmSettings) -> list[dict[str, Any]]:
    return [_row(model) for model in open_catalog(settings).models()]


def models_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no models yet: farm models add PATH, or run a job"
    lines = [f"{'NAME':24} {'KIND':7} {'SHA256':12} {'LOAD':>8} {'VRAM':>9}  PATH"]
    for row in rows:
        load = f"{row['load_s']:.2f} s" if row["load_s"] is not None else "-"
        vram = f"{row['vram_mb']} MB" if row["vram_mb"] is not None else "-"
        lines.append(f"{row['name'][:24]:24} {row['kind'] or '-':7} {row['sha256'][:12]:12} "
                     f"{load:>8} {vram:>9}  {row['path']}")
    return "\n".join(lines)


def _recognise(path: Path, settings: FarmSettings) -> tuple[str, ModelFolder]:
    problems = []
    for kind in FAMILIES:
        try:
            return kind, inspect_model(path, kind, getattr(settings, kind).config_path)
        except BadModelFolder as exc:
            problems.append(str(exc))
    wrong_type = [p for p in problems if " holds a " not in p]
    raise BadJobSpec((wrong_type or problems)[0].replace("image.model_path ", "", 1)
                     .replace("audio.model_path ", "", 1))


def _row(model: Any) -> dict[str, Any]:
    return {"name": model.name, "kind": model.kind, "sha256": model.sha256, "path": model.path,
            "vram_mb": model.vram_mb, "load_s": model.load_s,
            "updated_at": model.updated_at.isoformat()}
