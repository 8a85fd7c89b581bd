"""Independent random streams: one per part, derived from the request seed by name."""

from __future__ import annotations

import hashlib
import random


def stream(seed: int, *names: str) -> random.Random:
    """A random stream for (seed, names); the same in every process, unlike hash()."""
    label = "/".join((str(seed), *names))
    digest = hashlib.sha256(label.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
