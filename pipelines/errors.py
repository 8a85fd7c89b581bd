"""Errors raised by the pipelines; callers turn any PipelineError into one clear line."""


class PipelineError(Exception):
    """Base class of every error a pipeline raises on purpose."""


class BadMusicParams(PipelineError, ValueError):
    """A music request or a music document has a field outside what the generator allows."""


class BadMidiFile(PipelineError, ValueError):
    """Bytes that do not parse as a Standard MIDI File."""
