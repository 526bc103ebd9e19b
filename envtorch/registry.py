"""Build environments by name: `register`, `make` and entry-point discovery.

`make(target, **kwargs)` is the one way to build an environment from a string. The target is a
registered id (`"echo"`), a `PREFIX:NAME` handled by a bridge (see `PREFIXES`), a
`"module:Class"` or `"module:factory"` (the module may live in the current folder) or a task
file (`task.yaml`). An id is registered with an entry point, a `"module:Class"`,
`"module:factory"` or the path of a task file; the ML research tasks in
`envtorch/envs/research/tasks` are registered by their file names. Third-party packages publish
environments through the `envtorch.envs` entry-point group, whose entries name the same.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envtorch.core import Environment, EnvtorchError

if TYPE_CHECKING:
    from envtorch.taskfile import TaskFile

ENTRY_POINT_GROUP = "envtorch.envs"

PREFIXES: dict[str, str] = {
    "gymnasium": "envtorch.bridges.gymnasium:make_gymnasium",
    "openspiel": "envtorch.envs.games:OpenSpielEnv",
}
"""`PREFIX:NAME` targets by prefix: the `"module:function"` called as `function(NAME, **kwargs)`
to build the environment, imported on first use. Adding a bridge is adding one entry."""

OPENSPIEL_SHORT_NAMES = {
    "kuhn-poker": "kuhn_poker",
    "leduc-poker": "leduc_poker",
    "liars-dice": "liars_dice",
    "tic-tac-toe": "tic_tac_toe",
    "connect-four": "connect_four",
    "chess": "chess",
}
"""Well-known OpenSpiel games registered under a short name; any other is `"openspiel:GAME"`."""

TASK_FILE_SUFFIXES = (".yaml", ".yml")
RESEARCH_TASKS = Path(__file__).parent / "envs" / "research" / "tasks"
"""The folder of the built-in ML research task files, each registered under its file name."""


class UnknownEnvironment(EnvtorchError, LookupError):
    """No environment can be built from the requested target."""


@dataclass(frozen=True)
class EnvSpec:
    """How a registered environment is built: its entry point and keyword arguments.

    An env built by `make("id")` carries the spec it came from as `env.spec`, with `kwargs`
    holding every keyword argument it was built with.
    """

    id: str
    entry_point: str | Callable[..., Environment]
    kwargs: dict[str, Any] = field(default_factory=dict)


_registry: dict[str, EnvSpec] = {}
_discovered = False


def register(
    id: str,
    entry_point: str | Callable[..., Environment],
    **kwargs: Any,
) -> EnvSpec:
    """Register an environment under `id`; `entry_point` is a callable, a `"module:attribute"`
    or the path of a task file (`.yaml`/`.yml`).

    `kwargs` are the entry point's keyword arguments (`max_steps=4` hands the env its budget).
    """
    if not isinstance(entry_point, str) and not callable(entry_point):
        raise TypeError(
            f"entry_point must be a callable, 'module:attribute' or a task file, "
            f"got {entry_point!r}"
        )
    if (
        isinstance(entry_point, str)
        and not _names_task_file(entry_point)
        and ":" not in entry_point
    ):
        raise ValueError(
            f"entry_point {entry_point!r} must look like 'module:attribute' or name a task file"
        )
    spec = EnvSpec(id=id, entry_point=entry_point, kwargs=dict(kwargs))
    _registry[id] = spec
    return spec


def make(target: str | os.PathLike[str], **kwargs: Any) -> Environment:
    """Build an environment from `target`, `kwargs` taking precedence over configured ones.

    `target` is a registered id, a `PREFIX:NAME` of `PREFIXES`, a `"module:Class"` or
    `"module:factory"` (the module may live in the current folder, as with `python -m`), or the
    path of a `.yaml`/`.yml` task file, whose env is built with the file's budgets.
    """
    return resolve(os.fspath(target))(**kwargs)


def registered() -> dict[str, EnvSpec]:
    """Every registered environment, built-in and discovered, by id."""
    _discover_entry_points()
    return dict(sorted(_registry.items()))


def resolve(target: str) -> Callable[..., Environment]:
    """The factory `make(target)` calls; the one place that decides what a target names.

    The CLI (`envtorch serve`, `envtorch check`) serves and checks what it returns.
    """
    if _names_task_file(target):
        return _task_file_factory(target)
    prefix, colon, name = target.partition(":")
    if colon and prefix in PREFIXES:
        return functools.partial(load(PREFIXES[prefix]), name)
    if colon:
        return load(target)
    return _registered_factory(_registered_spec(target))


def _registered_spec(id: str) -> EnvSpec:
    _discover_entry_points()
    try:
        return _registry[id]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none"
        raise UnknownEnvironment(f"no environment registered as {id!r}; known: {known}") from None


def _registered_factory(spec: EnvSpec) -> Callable[..., Environment]:
    """A factory building `spec`'s environment and setting its `spec`.

    It wraps the entry point (`inspect.unwrap` finds it), so the keywords the entry point
    accepts can be read from it.
    """
    if isinstance(spec.entry_point, str) and _names_task_file(spec.entry_point):
        entry_point = _task_file_factory(spec.entry_point)
    else:
        entry_point = load(spec.entry_point)

    def build(**overrides: Any) -> Environment:
        kwargs = {**spec.kwargs, **overrides}
        env = entry_point(**kwargs)
        env.spec = replace(spec, kwargs=kwargs)
        return env

    build.__wrapped__ = entry_point  # type: ignore[attr-defined]
    return build


def task_file_of(target: str) -> TaskFile | None:
    """The task file behind `target`: the file itself, or the one an id is registered with;
    None for any other target."""
    from envtorch.taskfile import TaskFile

    if _names_task_file(target):
        return TaskFile.load(target)
    _discover_entry_points()
    spec = _registry.get(target)
    entry_point = spec.entry_point if spec is not None else None
    if isinstance(entry_point, str) and _names_task_file(entry_point):
        return TaskFile.load(entry_point)
    return None


def _names_task_file(target: str) -> bool:
    return target.endswith(TASK_FILE_SUFFIXES)


def _task_file_factory(path: str) -> Callable[..., Environment]:
    """A factory for the env a task file names, with the file's fields as keyword arguments."""
    from envtorch.taskfile import TaskFile

    task_file = TaskFile.load(path)
    factory = resolve(task_file.env)
    return functools.partial(factory, **task_file.kwargs_for(factory))


def _search_the_current_folder() -> None:
    """Put the current folder first on `sys.path`, as `python -m` does; console scripts don't."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)


def load(entry_point: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import `"module:attribute"` (dotted attributes allowed; the module may live in the
    current folder), or return a callable unchanged.

    An OpenEnv `Environment` subclass comes back bridged (`envtorch.bridges.openenv`), an
    envtorch environment class serving it.
    """
    if callable(entry_point):
        return _bridged(entry_point)
    _search_the_current_folder()
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
    return _bridged(value)


def _bridged(value: Callable[..., Any]) -> Callable[..., Any]:
    from envtorch.bridges.openenv import from_openenv, is_openenv_environment

    return from_openenv(value) if is_openenv_environment(value) else value


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
    for name, game in OPENSPIEL_SHORT_NAMES.items():
        register(name, PREFIXES["openspiel"], game=game)
    register("python-game", "envtorch.envs.games:PythonGameEnv")
    register("research", "envtorch.envs.research:ResearchEnv")
    for task_file in sorted(RESEARCH_TASKS.glob("*.yaml")):
        register(task_file.stem, str(task_file))


_register_builtins()

__all__ = [
    "ENTRY_POINT_GROUP",
    "PREFIXES",
    "EnvSpec",
    "UnknownEnvironment",
    "load",
    "make",
    "register",
    "registered",
    "task_file_of",
]
