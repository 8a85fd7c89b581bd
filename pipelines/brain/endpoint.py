"""An OpenAI-compatible chat endpoint (llama-server, LM Studio, Ollama) as a backend, over urllib.

The schema travels as response_format json_schema; servers that ignore it still get the
examples, and clamp_intent repairs whatever comes back.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from pipelines.brain.backend import Generation
from pipelines.brain.errors import BadBrainConfig, EndpointBadResponse, EndpointUnreachable
from pipelines.brain.prompt import chat_messages


def chat_url(base_url: str) -> str:
    """{base}/v1/chat/completions, accepting a base that already ends in /v1."""
    base = base_url.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


class EndpointBackend:
    """Chat completions from a server; nothing stays loaded here, the server holds the model."""

    tier = "endpoint"

    def __init__(self, base_url: str, model: str = "", timeout_s: float = 60.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise BadBrainConfig(f"llm.endpoint_url {base_url!r} must start with http:// or https://")
        self.url = chat_url(base_url)
        self.model = model
        self.timeout_s = timeout_s

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:200].decode(errors="replace")
            raise EndpointBadResponse(f"endpoint {self.url} answered HTTP {error.code}: {detail}") \
                from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise EndpointUnreachable(f"endpoint {self.url} unreachable ({reason}); "
                                      "check llm.endpoint_url") from error
        try:
            answer = json.loads(payload)
            if not isinstance(answer, dict):
                raise TypeError(type(answer).__name__)
            return answer
        except (ValueError, TypeError) as error:
            raise EndpointBadResponse(f"endpoint {self.url} sent no JSON object: "
                                      f"{payload[:120]!r}") from error

    def chat(self, messages: list[dict[str, str]], max_tokens: int, seed: int = 0,
             schema: dict[str, Any] | None = None) -> Generation:
        """One chat completion at temperature 0; schema, when given, goes as response_format."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": 0.0, "seed": seed, "stream": False}
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "music_intent", "strict": True, "schema": schema}}
        started = time.perf_counter()
        answer = self._post(body)
        try:
            text = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            raise EndpointBadResponse(f"endpoint {self.url} sent no choices[0].message.content") \
                from error
        usage = answer.get("usage") or {}
        return Generation(str(text or ""), int(usage.get("completion_tokens") or 0),
                          time.perf_counter() - started, int(usage.get("prompt_tokens") or 0))

    def complete(self, prompt: str, max_tokens: int, seed: int = 0,
                 on_text: Callable[[str], None] | None = None) -> Generation:
        """The answer at once (the request is not streamed): `on_text` hears all of it."""
        generation = self.chat([{"role": "user", "content": prompt}], max_tokens, seed)
        if on_text is not None and generation.text:
            on_text(generation.text)
        return generation

    def intent_json(self, text: str, schema: dict[str, Any], max_tokens: int,
                    seed: int = 0) -> Generation:
        return self.chat(chat_messages(text), max_tokens, seed, schema)

    def close(self) -> None:
        """Nothing to free: the server owns the model."""
