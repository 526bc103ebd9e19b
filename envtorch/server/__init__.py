"""Serve any environment over WebSocket and HTTP: `create_app(env_factory)`.

Imported lazily: `import envtorch.server` stays light until `create_app` is used.
"""

from importlib import import_module
from typing import Any

from envtorch.server.limits import ServerLimits

_LAZY = {"create_app": "envtorch.server.app", "serve_in_thread": "envtorch.server.background"}

__all__ = ["ServerLimits", "create_app", "serve_in_thread"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'envtorch.server' has no attribute {name!r}")
    return getattr(import_module(module), name)
