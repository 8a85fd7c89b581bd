"""The brain: a musician's words in, a MusicIntent out; and plain completions for `llm` jobs.

Reads top to bottom: check the request, read the stated facts, ask the first backend that
answers (local GGUF, then the endpoint), pin the facts over the answer, repair what is invalid
from the rules' defaults. With no backend the rules alone make the intent, and say why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.brain.backend import Backend, Generation
from pipelines.brain.defaults import rules_defaults
from pipelines.brain.endpoint import EndpointBackend
from pipelines.brain.errors import BadBrainConfig, BadIntentRequest, BadModelAnswer, BrainError
from pipelines.brain.llama import LlamaBackend
from pipelines.brain.merge import merge_answer
from pipelines.brain.rules import read_facts, read_hints
from pipelines.brain.schema import MusicIntent, intent_json_schema, repair_fields

BRAIN_MODES = ("hybrid", "rules", "model")
DEFAULT_CONFIG: dict[str, Any] = {
    "model_path": None, "n_ctx": 3072, "n_threads": None, "n_gpu_layers": 0, "seed": 0,
    "endpoint_url": None, "endpoint_model": "", "endpoint_timeout_s": 60.0, "mode": "hybrid",
    "max_tokens": 512,
}
MAX_TEXT = 2000


@dataclass(frozen=True)
class IntentRequest:
    """A musician's words and the seed recorded with the result."""

    text: str
    seed: int = 0


@dataclass
class IntentResult:
    """The intent, which tier made it, the stated facts, why tiers were skipped, and the cost."""

    intent: MusicIntent
    tier: str  # "llama", "endpoint" or "rules"
    facts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    raw: dict[str, Any] | None = field(default=None, repr=False)  # the model's JSON, unrepaired


def check_intent_request(req: IntentRequest) -> None:
    if not isinstance(req.text, str) or not req.text.strip():
        raise BadIntentRequest("intent text must be a non-empty string")
    if len(req.text) > MAX_TEXT:
        raise BadIntentRequest(f"intent text has {len(req.text)} characters; at most {MAX_TEXT}")
    _check_seed(req.seed)


def _check_seed(seed: Any) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise BadIntentRequest(f"seed {seed!r} must be an integer between 0 and 2**63-1")


def read_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in and checked before any model is touched (BadBrainConfig)."""
    unknown = set(config or {}) - set(DEFAULT_CONFIG)
    if unknown:
        raise BadBrainConfig(f"unknown llm config keys: {', '.join(sorted(unknown))}")
    merged = {**DEFAULT_CONFIG, **{k: v for k, v in (config or {}).items() if v is not None}}
    if merged["mode"] not in BRAIN_MODES:
        raise BadBrainConfig(f"llm.mode {merged['mode']!r} is not one of {', '.join(BRAIN_MODES)}")
    for name, low in (("n_ctx", 512), ("max_tokens", 1), ("n_gpu_layers", -1)):
        if not isinstance(merged[name], int) or merged[name] < low:
            raise BadBrainConfig(f"llm.{name} {merged[name]!r} must be an integer >= {low}")
    url = merged["endpoint_url"]
    if url is not None and not str(url).startswith(("http://", "https://")):
        raise BadBrainConfig(f"llm.endpoint_url {url!r} must start with http:// or https://")
    if merged["max_tokens"] >= merged["n_ctx"]:
        raise BadBrainConfig(f"llm.max_tokens {merged['max_tokens']} must be below llm.n_ctx")
    return merged


def parse_answer(generation: Generation, tier: str, max_tokens: int) -> dict[str, Any]:
    """The JSON object a model wrote; BadModelAnswer when it is cut off or not an object."""
    try:
        # strict=False: the grammar lets a raw newline into a string, which json rejects by default.
        answer = json.loads(generation.text, strict=False)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        cut = " (hit max_tokens)" if generation.tokens >= max_tokens else ""
        raise BadModelAnswer(f"{tier} answer is not a JSON object after {generation.tokens} "
                             f"tokens{cut}: {generation.text[:60]!r}")
    return answer


@dataclass
class Backends:
    """The backends to ask, in order; why any was left out; the local model's load error."""

    ready: list[Backend] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: BrainError | None = None


def load_backends(local: LlamaBackend, cfg: dict[str, Any]) -> Backends:
    """Load what the config names. A missing or broken model is recorded, not raised."""
    found = Backends()
    if cfg["model_path"]:
        try:
            local.load(cfg["model_path"], cfg["n_ctx"], cfg["n_threads"], cfg["n_gpu_layers"],
                       cfg["seed"])
        except BrainError as error:
            found.error = error
            found.skipped.append(str(error))
    elif not local.loaded:
        found.skipped.append("llm.model_path not set")
    if local.loaded:
        found.ready.append(local)
    if cfg["endpoint_url"]:
        found.ready.append(EndpointBackend(cfg["endpoint_url"], cfg["endpoint_model"],
                                           float(cfg["endpoint_timeout_s"])))
    return found


class BrainPipeline:
    """Intent text to MusicIntent; pass a loaded LlamaBackend to share one model in a process."""

    def __init__(self, backend: LlamaBackend | None = None) -> None:
        self.local = backend or LlamaBackend()
        self._owns_local = backend is None
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.backends: list[Backend] = []
        self.skipped: list[str] = []
        self.load_error: BrainError | None = None

    def load(self, config: dict[str, Any] | None = None) -> None:
        """Load the model; in hybrid mode a missing or broken one degrades and sets load_error."""
        self.config = read_config(config)
        self.backends, self.skipped, self.load_error = [], [], None
        if self.config["mode"] == "rules":
            return
        found = load_backends(self.local, self.config)
        self.backends, self.skipped, self.load_error = found.ready, found.skipped, found.error
        if self.config["mode"] == "model" and not self.backends:
            raise self.load_error or BrainError("llm.mode 'model' needs llm.model_path or "
                                                "llm.endpoint_url")

    def unload(self) -> None:
        if self._owns_local:
            self.local.close()
        self.backends = []

    def __call__(self, req: IntentRequest) -> IntentResult:
        check_intent_request(req)
        started = time.perf_counter()
        facts = read_facts(req.text)
        notes = list(self.skipped)
        result = None
        for backend in self.backends if self.config["mode"] != "rules" else []:
            try:
                result = self._ask(backend, req, facts)
                break
            except BrainError as error:
                if self.config["mode"] == "model":
                    raise
                notes.append(str(error))
        if result is None:
            intent = MusicIntent.model_validate(rules_defaults(req.text))
            result = IntentResult(intent, "rules", facts, [f"{note}; rules only" for note in notes])
        else:
            result.warnings[:0] = [f"{note}; used {result.tier}" for note in notes]
        result.seconds = time.perf_counter() - started
        return result

    def _ask(self, backend: Backend, req: IntentRequest, facts: dict[str, Any]) -> IntentResult:
        """One backend's intent. Hybrid pins what the words settle, in the grammar and over the
        answer (see merge.py); model mode takes the answer alone, repaired from text-blind defaults."""
        hybrid = self.config["mode"] == "hybrid"
        words = {**read_hints(req.text), **facts} if hybrid else {}
        generation = backend.intent_json(req.text, intent_json_schema(words),
                                         self.config["max_tokens"], req.seed)
        raw = parse_answer(generation, backend.tier, self.config["max_tokens"])
        if hybrid:
            fields, fell_back = merge_answer(req.text, raw, words)
        else:
            fields, fell_back = repair_fields(raw, rules_defaults(""))
        warnings = [f"{backend.tier} gave an unusable {name}; rules default used" for name in fell_back]
        return IntentResult(MusicIntent.model_validate(fields), backend.tier, facts, warnings,
                            generation.tokens, generation.seconds, raw)


@dataclass(frozen=True)
class CompletionRequest:
    """A raw prompt for an `llm` job; `on_text` hears the text as it is generated."""

    prompt: str
    max_tokens: int = 256
    seed: int = 0
    on_text: Callable[[str], None] | None = None


@dataclass(frozen=True)
class CompletionResult:
    text: str
    tokens: int
    seconds: float
    tier: str


class CompletionPipeline:
    """Prompt in, text out, from the same backend as the brain (no rules fallback for raw text)."""

    def __init__(self, backend: LlamaBackend | None = None) -> None:
        self.local = backend or LlamaBackend()
        self._owns_local = backend is None
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.backends: list[Backend] = []

    def load(self, config: dict[str, Any] | None = None) -> None:
        self.config = read_config(config)
        found = load_backends(self.local, self.config)
        self.backends = found.ready
        if not self.backends:
            raise found.error or BrainError(f"no model for llm jobs: {'; '.join(found.skipped)}")

    def unload(self) -> None:
        if self._owns_local:
            self.local.close()
        self.backends = []

    def __call__(self, req: CompletionRequest) -> CompletionResult:
        if not isinstance(req.prompt, str) or not req.prompt.strip():
            raise BadIntentRequest("prompt must be a non-empty string")
        if not isinstance(req.max_tokens, int) or not 1 <= req.max_tokens < self.config["n_ctx"]:
            raise BadIntentRequest(f"max_tokens {req.max_tokens!r} must be 1..{self.config['n_ctx'] - 1}")
        _check_seed(req.seed)
        if not self.backends:
            raise BrainError("CompletionPipeline.load() has not found a model")
        backend = self.backends[0]
        out = backend.complete(req.prompt, req.max_tokens, req.seed, req.on_text)
        return CompletionResult(out.text, out.tokens, out.seconds, backend.tier)
