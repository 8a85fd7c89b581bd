"""Errors of the MIDI package beyond the shared ones in pipelines.errors."""

from pipelines.errors import PipelineError


class PreviewUnavailable(PipelineError):
    """The audio preview cannot run here: no fluidsynth on PATH, or no General MIDI soundfont."""


class PreviewFailed(PipelineError):
    """fluidsynth ran but gave no usable WAV file."""
