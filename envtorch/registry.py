"""Find environments by name: `register`, `make` and entry-point discovery.

Third-party packages publish environments through the `envtorch.envs` entry-point group, whose
entries name an `EnvSpec`-compatible target (`"module:Class"` or `"module:factory"`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from envtorch.core import Environment, EnvtorchError

ENTRY_POINT_GROUP = "envtorch.envs"


class UnknownEnvironment(EnvtorchError, LookupError):
    """No environment is registered under the requested id."""


@dataclass(frozen=True)
class EnvSpec:
    """How to build a registered environment: its entry point and default keyword arguments."""

    id: str
    entry_point: str | Callable[..., Environment]
    max_steps: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def make(self, **overrides: Any) -> Environment:
        """Build the environment, `overrides` taking precedence over the registered kwargs."""
        kwargs = {**self.kwargs, **overrides}
        if self.max_steps is not None:
            kwargs.setdefault("max_steps", self.max_steps)
        return load(self.entry_point)(**kwargs)


_registry: dict[str, EnvSpec] = {}
_discovered = False


def register(
    id: str,
    entry_point: str | Callable[..., Environment],
    max_steps: int | None = None,
    **kwargs: Any,
) -> EnvSpec:
    """Register an environment under `id`; `entry_point` is a callable or `"module:attribute"`."""
    if not isinstance(entry_point, str) and not callable(entry_point):
        raise TypeError(
            f"entry_point must be a callable or 'module:attribute', got {entry_point!r}"
        )
    if isinstance(entry_point, str) and ":" not in entry_point:
        raise ValueError(f"entry_point {entry_point!r} must look like 'module:attribute'")
    spec = EnvSpec(id=id, entry_point=entry_point, max_steps=max_steps, kwargs=dict(kwargs))
    _registry[id] = spec
    return spec


def spec(id: str) -> EnvSpec:
    """The `EnvSpec` registered under `id`."""
    _discover_entry_points()
    try:
        return _registry[id]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none"
        raise UnknownEnvironment(f"no environment registered as {id!r}; known: {known}") from None


def make(id: str, **overrides: Any) -> Environment:
    """Build the environment registered as `id`, with keyword overrides."""
    return spec(id).make(**overrides)


def registered() -> dict[str, EnvSpec]:
    """Every registered environment, built-in and discovered, by id."""
    _discover_entry_points()
    return dict(sorted(_registry.items()))


def resolve(target: str) -> Callable[..., Environment]:
    """A factory for `target`: a registered id, or `"module:Class"` / `"module:factory"`.

    The module may live in the current folder, as with `python -m`: `envtorch check
    my_env:MyEnv` finds `./my_env.py`.
    """
    if ":" in target:
        _search_the_current_folder()
        return load(target)
    return spec(target).make


def _search_the_current_folder() -> None:
    """Put the current folder first on `sys.path`, as `python -m` does; console scripts don't."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)


def load(entry_point: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import `"module:attribute"` (dotted attributes allowed), or return a callable unchanged."""
    if callable(entry_point):
        return entry_point
    module_name, _, attribute = entry_point.partition(":")
    try:
        value: Any = import_module(module_name)
    except ImportError as error:
        raise UnknownEnvironment(
            f"cannot import {module_name!r} for {entry_point!r}: {error}"
        ) from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise UnknownEnvironment(f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(value):
        raise UnknownEnvironment(f"{entry_point!r} is not callable")
    return value


def _discover_entry_points() -> None:
    """Register the environments that installed packages publish, once per process."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in _registry:
            register(entry.name, entry.value)


def _register_builtins() -> None:
    register("echo", "envtorch.envs.echo:EchoEnv")
    register("python", "envtorch.envs.python:PythonEnv")
    register("python-math", "envtorch.envs.python:python_math", max_steps=4)
    register("math", "envtorch.envs.math:MathEnv")


_register_builtins()
__all__ = [
    "ENTRY_POINT_GROUP",
    "EnvSpec",
    "UnknownEnvironment",
    "load",
    "make",
    "register",
    "registered",
    "resolve",
    "spec",
]
