"""The sha256 of a model's weights, hashed once per file version: a cache keyed by the file's
path, size and mtime, so a 4 GB folder is not read again for every job or every process.

One file (a single-file checkpoint, a GGUF) is named by its own sha256, as other tools name it;
a folder of weights by the sha256 of its files' relative paths and hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    path = path.resolve()
    stat = path.stat()
    key = f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}"
    cache = _read(cache_file)
    if key in cache:
        return cache[key]
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if cache_file is not None:
        fresh = {k: v for k, v in _read(cache_file).items() if not k.startswith(f"{path}\0")}
        fresh[key] = digest
        try:
            _write(cache_file, fresh)
        except OSError:
            pass  # the cache only saves time: a full or read-only home must not fail a job
    return digest


def weights_sha256(root: Path, files: tuple[Path, ...], cache_file: Path | None = None) -> str:
    """`root` a single file: its own hash; a folder: one hash over its weight files."""
    if root.is_file():
        return file_sha256(root, cache_file)
    # Named as they sit in the folder: a weight may link elsewhere (a Hugging Face cache).
    lines = [f"{os.path.relpath(f, root)}:{file_sha256(f, cache_file)}\n" for f in sorted(files)]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _read(cache_file: Path | None) -> dict[str, str]:
    if cache_file is None:
        return {}
    try:
        data = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}  # missing or torn: hashing again is only slow
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write(cache_file: Path, cache: dict[str, str]) -> None:
    """Written whole to a private temporary file and renamed: a reader sees old or new."""
    cache_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, tmp = tempfile.mkstemp(prefix=f".{cache_file.name}.", dir=cache_file.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(cache, sort_keys=True, indent=0))
        os.replace(tmp, cache_file)
    except BaseException:
        os.unlink(tmp)
        raise
