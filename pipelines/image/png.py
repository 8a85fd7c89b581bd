"""A PNG's generation parameters in the text chunk other Stable Diffusion tools read and write.

The chunk is a `tEXt` named "parameters": the prompt, a "Negative prompt:" line, then one line
of "Key: value" pairs (Steps, Sampler, CFG scale, Seed, Size, Model hash, Model).
"""

from __future__ import annotations

import io
import re
from typing import Any

CHUNK = "parameters"
_PAIR = re.compile(r"\s*([\w ]+):\s*((?:\"(?:[^\"\\]|\\.)*\")|[^,]*)(?:,|$)")


def parameters_text(params: dict[str, Any]) -> str:
    """`params`: prompt, negative_prompt, steps, sampler, cfg_scale, seed, width, height,
    model_hash, model."""
    pairs = [("Steps", params["steps"]), ("Sampler", params["sampler"]),
             ("CFG scale", _number(params["cfg_scale"])), ("Seed", params["seed"]),
             ("Size", f"{params['width']}x{params['height']}"),
             ("Model hash", params["model_hash"]), ("Model", _quoted(str(params["model"])))]
    lines = [params["prompt"]]
    if params.get("negative_prompt"):
        lines.append(f"Negative prompt: {params['negative_prompt']}")
    lines.append(", ".join(f"{key}: {value}" for key, value in pairs))
    return "\n".join(lines)


def parse_parameters(text: str) -> dict[str, Any]:
    """The reverse of parameters_text, as other tools read it: the last line holds the pairs."""
    *head, last = text.split("\n")
    pairs = {m.group(1).strip(): _unquoted(m.group(2).strip()) for m in _PAIR.finditer(last)
             if m.group(1).strip()}
    negative = [line for line in head if line.startswith("Negative prompt: ")]
    prompt = "\n".join(line for line in head if not line.startswith("Negative prompt: "))
    width, _, height = pairs.get("Size", "0x0").partition("x")
    return {
        "prompt": prompt,
        "negative_prompt": negative[0].removeprefix("Negative prompt: ") if negative else "",
        "steps": int(pairs["Steps"]), "sampler": pairs["Sampler"],
        "cfg_scale": float(pairs["CFG scale"]), "seed": int(pairs["Seed"]),
        "width": int(width), "height": int(height),
        "model_hash": pairs.get("Model hash", ""), "model": pairs.get("Model", ""),
    }


def png_with_parameters(image: Any, text: str) -> bytes:
    """A PIL image as PNG bytes carrying `text` in its parameters chunk."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(CHUNK, text)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def read_parameters(png: bytes) -> str | None:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        text = image.text.get(CHUNK) if hasattr(image, "text") else None
    return text


def _number(value: float) -> str:
    return f"{value:g}"


def _quoted(value: str) -> str:
    if any(ch in value for ch in ',:"\n'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    return value


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
