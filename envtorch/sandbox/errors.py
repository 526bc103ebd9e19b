"""The errors the sandbox raises."""

from envtorch.core.errors import EnvtorchError


class SandboxUnavailable(EnvtorchError):
    """Sessions cannot be confined on this machine; the message says why and how to fix it."""


class SessionDead(EnvtorchError):
    """The session was closed or killed; open a new one."""
