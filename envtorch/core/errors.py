"""The exceptions envtorch raises, all subclasses of `EnvtorchError`."""


class EnvtorchError(Exception):
    """Base class of every error raised by envtorch."""


class ResetNeeded(EnvtorchError):
    """`step()` was called before `reset()` or after the episode ended."""


class EnvClosed(EnvtorchError):
    """The environment was used after `close()`."""


class CannotFork(EnvtorchError):
    """The environment's episode cannot be forked; the message says why."""


class ValidationError(EnvtorchError, ValueError):
    """Data does not match the declared action, observation or state type."""


class InvalidJSON(ValidationError):
    """Text that is not JSON, or JSON nested too deeply to read."""


class MissingDependency(EnvtorchError, ImportError):
    """An optional package is not installed; the message names the extra that brings it."""
