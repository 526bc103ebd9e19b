"""A Gymnasium env as an envtorch `Environment`: `from_gymnasium(env)`, `make("gymnasium:ID")`."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import gymnasium
from gymnasium.envs.registration import EnvSpec

from envtorch.bridges.gymnasium.spaces import (
    describe,
    field_type,
    neutral,
    space_from_description,
    space_value,
)
from envtorch.core import Action, Environment, Observation, State, ValidationError
from envtorch.core.transforms import TransformLike
from envtorch.registry import UnknownEnvironment


class GymnasiumEnv(Environment[Action, Observation, State]):
    """A Gymnasium env behind the envtorch contract; build it with `from_gymnasium(env)`.

    Its action has one field, `action`, holding a value of the env's action space, and its
    observation one field, `observation`, holding what the env returned (numpy arrays stay arrays
    here and travel as lists). Each env name and pair of spaces gets its own action and
    observation dataclasses, built once, whose JSON Schemas hold the exact spaces.

    `reset(seed=, task=)` calls the env's `reset(seed=seed, options=task)`: a task is a dict of
    reset options, or None. Gymnasium's `info` becomes the observation's `metadata`. `terminated`
    or `truncated` end the episode (`done`); `truncated` stays set only when the env did not
    also terminate it. An action that does not convert to the action space's type raises
    `ValidationError`. The render modes are the env's, `human` aside: it draws a window where the
    env runs.
    """

    nonblocking = True
    """Gymnasium envs simulate without I/O, most in microseconds; a server or collector threads
    the calls of one that turns out slower (a large render, say) by itself."""

    def __init__(
        self,
        env: gymnasium.Env[Any, Any],
        *,
        max_steps: int | None = None,
        time_limit: float | None = None,
        transform: TransformLike | None = None,
    ) -> None:
        self.gymnasium_env = env
        super().__init__(
            render_mode=env.render_mode,
            max_steps=max_steps,
            time_limit=time_limit,
            transform=transform,
        )

    def _reset(self, *, seed: int | None, task: Any) -> Observation:
        observation, info = self.gymnasium_env.reset(seed=seed, options=_options(task))
        return self.observation_type(observation=observation, metadata=info)

    def _step(self, action: Action) -> Observation:
        value = self._valid_action(action.action)
        observation, reward, terminated, truncated, info = self.gymnasium_env.step(value)
        return self.observation_type(
            observation=observation,
            reward=float(reward),
            done=bool(terminated or truncated),
            truncated=bool(truncated and not terminated),
            metadata=info,
        )

    def _valid_action(self, value: Any) -> Any:
        """`value` as the action space holds it; whether it lies in the space is the env's to
        check, as in Gymnasium (a server has already checked types, shapes and choices)."""
        space = self.gymnasium_env.action_space
        try:
            return space_value(space, value)
        except (TypeError, ValueError, KeyError) as error:
            raise ValidationError(f"{value!r} is no action of {space}: {error}") from None

    def _render(self) -> Any:
        return self.gymnasium_env.render()

    def _close(self) -> None:
        self.gymnasium_env.close()


def from_gymnasium(
    env: gymnasium.Env[Any, Any],
    *,
    max_steps: int | None = None,
    time_limit: float | None = None,
    transform: TransformLike | None = None,
) -> GymnasiumEnv:
    """The Gymnasium env `env` as an envtorch env (see `GymnasiumEnv`), which closes it.

    `max_steps`, `time_limit` and `transform` are the `Environment`'s own; a `human` render mode
    is refused (choose `rgb_array` or `ansi`, whose frames `render()` returns).
    """
    if not isinstance(env, gymnasium.Env):
        raise TypeError(f"from_gymnasium() takes a gymnasium.Env, got {type(env).__name__}")
    env_class = _env_class(
        _name(env),
        json.dumps(describe(env.action_space)),
        json.dumps(describe(env.observation_space)),
        json.dumps(_metadata(env)),
    )
    return env_class(env, max_steps=max_steps, time_limit=time_limit, transform=transform)


def make_gymnasium(
    id: str | EnvSpec,
    *,
    max_steps: int | None = None,
    time_limit: float | None = None,
    transform: TransformLike | None = None,
    **kwargs: Any,
) -> GymnasiumEnv:
    """`make("gymnasium:ID", **kwargs)`: `gymnasium.make(ID, **kwargs)` as an envtorch env.

    `kwargs` (`render_mode` among them) go to `gymnasium.make`; `max_steps`, `time_limit` and
    `transform` to the envtorch env.
    """
    try:
        env = gymnasium.make(id, **kwargs)
    except gymnasium.error.UnregisteredEnv as unknown:
        raise UnknownEnvironment(f"Gymnasium has no env {id!r}: {unknown}") from None
    return from_gymnasium(
        env,
        max_steps=max_steps,
        time_limit=time_limit,
        transform=transform,
    )


def _options(task: Any) -> dict[str, Any] | None:
    if task is None or isinstance(task, Mapping):
        return None if task is None else dict(task)
    raise TypeError(
        f"a Gymnasium env takes its task as reset options, a dict or None; "
        f"got {type(task).__name__}"
    )


def _name(env: gymnasium.Env[Any, Any]) -> str:
    return env.spec.id if env.spec is not None else type(env.unwrapped).__name__


def _metadata(env: gymnasium.Env[Any, Any]) -> dict[str, Any]:
    """The envtorch metadata of `env`: its render modes but `human`, and its frame rate."""
    metadata: dict[str, Any] = {
        "render_modes": [mode for mode in env.metadata.get("render_modes", []) if mode != "human"]
    }
    if env.metadata.get("render_fps") is not None:
        metadata["render_fps"] = env.metadata["render_fps"]
    return metadata


@lru_cache(maxsize=256)
def _env_class(
    name: str, action_space: str, observation_space: str, metadata: str
) -> type[GymnasiumEnv]:
    """The `GymnasiumEnv` subclass for one env name, pair of spaces (described as JSON) and
    metadata: the same class every time, as a server needs from its env factory."""
    stem = _class_stem(name)
    action_type = _dataclass(
        f"{stem}Action",
        Action,
        "action",
        space_from_description(json.loads(action_space)),
        f"An action of the Gymnasium env {name}.",
    )
    observation_type = _dataclass(
        f"{stem}Observation",
        Observation,
        "observation",
        space_from_description(json.loads(observation_space)),
        f"An observation of the Gymnasium env {name}; its `metadata` is Gymnasium's `info`.",
    )
    namespace = {
        "__doc__": f"The Gymnasium env {name} as an envtorch env.",
        "__module__": __name__,
        "action_type": action_type,
        "observation_type": observation_type,
        "state_type": State,
        "metadata": {
            "name": name,
            "description": f"The Gymnasium env {name}.",
            **json.loads(metadata),
        },
    }
    return type(f"{stem}Env", (GymnasiumEnv,), namespace)


def _dataclass(name: str, base: type, field: str, space: gymnasium.Space[Any], doc: str) -> type:
    """A dataclass with one field holding values of `space`, the space's neutral value by
    default (so a checker can build a valid action without knowing the space)."""
    value = json.dumps(neutral(space))
    return dataclasses.make_dataclass(
        name,
        [(field, field_type(space), dataclasses.field(default_factory=lambda: json.loads(value)))],
        bases=(base,),
        kw_only=True,
        namespace={"__doc__": doc, "__module__": __name__},
    )


def _class_stem(name: str) -> str:
    """`CartPole-v1` gives `CartPoleV1`, `ALE/Pong-v5` gives `ALEPongV5`."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    return "".join(word[:1].upper() + word[1:] for word in words) or "Gymnasium"
