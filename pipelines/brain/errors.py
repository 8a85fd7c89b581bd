"""Errors the brain raises on purpose; each names the file, URL or config key to fix."""

from pipelines.errors import PipelineError


class BrainError(PipelineError):
    """Base class of the brain's errors."""


class BadIntentRequest(BrainError, ValueError):
    """An intent or completion request that cannot be run (empty text, bad seed, bad max_tokens)."""


class ModelNotFound(BrainError, FileNotFoundError):
    """The configured GGUF file does not exist."""


class ModelUnusable(BrainError):
    """The GGUF file exists but llama.cpp cannot load it (corrupt, truncated, wrong format)."""


class EndpointUnreachable(BrainError, ConnectionError):
    """The OpenAI-compatible endpoint did not answer (refused, timed out, DNS)."""


class EndpointBadResponse(BrainError):
    """The endpoint answered, but not with a usable chat completion."""


class BadBrainConfig(BrainError, ValueError):
    """An llm config value the brain cannot use (unknown mode, n_ctx too small, ...)."""


class BadModelAnswer(BrainError):
    """A model answered with text that is not a JSON object (cut off by max_tokens, say)."""
