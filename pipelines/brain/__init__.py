"""The brain: free-text musical intent to structured music parameters, by rules and a local LLM."""

from pipelines.brain.defaults import rules_defaults
from pipelines.brain.endpoint import EndpointBackend
from pipelines.brain.errors import (
    BadBrainConfig,
    BadIntentRequest,
    BadModelAnswer,
    BrainError,
    EndpointBadResponse,
    EndpointUnreachable,
    ModelNotFound,
    ModelUnusable,
)
from pipelines.brain.llama import LlamaBackend
from pipelines.brain.pipeline import (
    DEFAULT_CONFIG,
    BrainPipeline,
    CompletionPipeline,
    CompletionRequest,
    CompletionResult,
    IntentRequest,
    IntentResult,
)
from pipelines.brain.rules import read_facts, read_hints
from pipelines.brain.schema import MusicIntent, clamp_intent, intent_json_schema

__all__ = [
    "DEFAULT_CONFIG", "BadBrainConfig", "BadIntentRequest", "BadModelAnswer", "BrainError", "BrainPipeline",
    "CompletionPipeline", "CompletionRequest", "CompletionResult", "EndpointBackend",
    "EndpointBadResponse", "EndpointUnreachable", "IntentRequest", "IntentResult", "LlamaBackend",
    "ModelNotFound", "ModelUnusable", "MusicIntent", "clamp_intent", "intent_json_schema",
    "read_facts", "read_hints", "rules_defaults",
]
