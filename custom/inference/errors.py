"""The errors that stop an inference run before its first image, each naming the file or option at fault."""
from __future__ import annotations


class SetupError(ValueError):
    """The run cannot start: an option out of range, no class names, no CUDA device, ...; the message says
    which and what to do."""


class InputError(SetupError):
    """An INPUT that gives nothing to run on (missing, empty, unsupported, a video that does not open)."""


class CheckpointMismatchError(SetupError):
    """The checkpoint was not trained with the config's model (other classes, num_classes or weights)."""
