"""`bridge(TheirEnvironment)`: an envtorch environment class around an OpenEnv environment class."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, ClassVar

from envtorch.bridges.openenv.models import (
    action_class,
    from_model,
    observation_class,
    state_class,
)
from envtorch.core import Action, Environment, Observation, State


class OpenEnvEnvironment(Environment[Action, Observation, State]):
    """One instance of an OpenEnv environment class behind envtorch's contract.

    `bridge()` makes one subclass per OpenEnv class. `reset(seed=..., task=...)` calls the OpenEnv
    environment's `reset` with `seed`, the episode id and, when `task` is a mapping, its items,
    each only if that `reset` takes it (as OpenEnv's server filters them). `step` hands it the
    validated pydantic action; `state` is its state.
    """

    openenv_class: ClassVar[type]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = self.openenv_class()

    def _reset(self, *, seed: int | None, task: Any) -> Observation:
        arguments = {"seed": seed, "episode_id": super().state.episode_id}
        if isinstance(task, Mapping):
            arguments.update(task)
        observation = self.inner.reset(**_accepted(self.inner.reset, arguments))
        return from_model(self.observation_type, observation)

    def _step(self, action: Action) -> Observation:
        observation = self.inner.step(action.model)
        return from_model(self.observation_type, observation)

    @property
    def state(self) -> State:
        """The OpenEnv environment's state, with the task kept aside."""
        task = super().state.task
        return from_model(self.state_type, self.inner.state, task=task)

    def _close(self) -> None:
        self.inner.close()


@cache
def bridge(openenv_class: type) -> type[OpenEnvEnvironment]:
    """The `OpenEnvEnvironment` subclass serving `openenv_class`, its types read from its hints.

    The action type is `step`'s `action` annotation, the observation type `step`'s return
    annotation, the state type the `state` property's return annotation (each falling back to
    the class's generic arguments, and the state to OpenEnv's `State`).
    """
    action, observation, state = _openenv_types(openenv_class)
    description = (openenv_class.__doc__ or "").strip().split("\n", 1)[0]
    namespace = {
        "__doc__": openenv_class.__doc__,
        "__module__": openenv_class.__module__,
        "openenv_class": openenv_class,
        "action_type": action_class(action),
        "observation_type": observation_class(observation),
        "state_type": state_class(state),
        "metadata": {
            "name": openenv_class.__name__,
            "description": description,
            "render_modes": [],
        },
    }
    return type(openenv_class.__name__, (OpenEnvEnvironment,), namespace)


def _openenv_types(openenv_class: type) -> tuple[type, type, type]:
    from openenv.core.env_server.interfaces import Environment as OpenEnvironment
    from openenv.core.env_server.types import Action as OpenAction
    from openenv.core.env_server.types import Observation as OpenObservation
    from openenv.core.env_server.types import State as OpenState

    generic = _generic_arguments(openenv_class, OpenEnvironment)
    step = _hints(openenv_class.step)
    state_property = inspect.getattr_static(openenv_class, "state", None)
    state_hints = _hints(getattr(state_property, "fget", None))
    action = step.get("action") or generic[0]
    observation = step.get("return") or generic[1]
    state = state_hints.get("return") or generic[2] or OpenState
    for found, base, what in (
        (action, OpenAction, "step(self, action: YourAction)"),
        (observation, OpenObservation, "step(...) -> YourObservation"),
        (state, OpenState, "the state property's return type"),
    ):
        if not (isinstance(found, type) and issubclass(found, base)):
            raise TypeError(
                f"cannot tell the types of {openenv_class.__name__}: annotate {what}, "
                f"or subclass Environment[YourAction, YourObservation, YourState]"
            )
    return action, observation, state


def _generic_arguments(openenv_class: type, generic_base: type) -> list[Any]:
    """The concrete type arguments given to `generic_base` along the MRO, or Nones."""
    for klass in openenv_class.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is generic_base:
                arguments = [
                    None if isinstance(argument, typing.TypeVar) else argument
                    for argument in typing.get_args(base)
                ]
                return (arguments + [None] * 3)[:3]
    return [None, None, None]


def _hints(function: Callable[..., Any] | None) -> dict[str, Any]:
    if function is None:
        return {}
    try:
        return typing.get_type_hints(function)
    except Exception:
        return {}


def _accepted(function: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """The `arguments` that `function` takes by name (all of them when it takes `**kwargs`)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return arguments
    return {name: value for name, value in arguments.items() if name in parameters}
