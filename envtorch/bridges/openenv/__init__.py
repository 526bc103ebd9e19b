"""OpenEnv's environments served by envtorch: `from_openenv(TheirEnvironment)`.

An OpenEnv `Environment` subclass (their server-side class, with pydantic actions, observations and
state) becomes an envtorch environment class, so `envtorch serve module:TheirEnvironment` gives it
many sessions, the server's limits and its idle reaper. Nothing here imports OpenEnv or pydantic
until such a class is bridged: a class can only subclass OpenEnv's `Environment` once OpenEnv is
imported.
"""

from __future__ import annotations

import sys
from typing import Any

_INTERFACES = "openenv.core.env_server.interfaces"


def is_openenv_environment(value: Any) -> bool:
    """True when `value` is a subclass of OpenEnv's server-side `Environment`."""
    interfaces = sys.modules.get(_INTERFACES)
    return (
        interfaces is not None
        and isinstance(value, type)
        and issubclass(value, interfaces.Environment)
        and value is not interfaces.Environment
    )


def from_openenv(openenv_class: type) -> type:
    """The envtorch environment class serving `openenv_class`, one instance per session."""
    from envtorch.bridges.openenv.environment import bridge

    return bridge(openenv_class)


__all__ = ["from_openenv", "is_openenv_environment"]
