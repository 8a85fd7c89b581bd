"""What every brain backend offers (local GGUF, HTTP endpoint) and what one generation returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Generation:
    """What a backend produced: the text, tokens generated and wall seconds."""

    text: str
    tokens: int
    seconds: float
    prompt_tokens: int = 0


class Backend(Protocol):
    """A text generator the pipelines can ask; `tier` names it in results ("llama", "endpoint").
    `complete` tells `on_text` the text as it comes (an endpoint: all of it at the end)."""

    tier: str

    def complete(self, prompt: str, max_tokens: int, seed: int = 0,
                 on_text: Callable[[str], None] | None = None) -> Generation: ...

    def intent_json(self, text: str, schema: dict[str, Any], max_tokens: int,
                    seed: int = 0) -> Generation: ...

    def close(self) -> None: ...
