"""`to_gymnasium(env)`: an envtorch env or `EnvClient` as a `gymnasium.Env`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import partial
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from envtorch.bridges.gymnasium.environment import GymnasiumEnv, make_gymnasium
from envtorch.bridges.gymnasium.spaces import plain, space_of, space_value
from envtorch.core import Environment, schemas
from envtorch.wire import auth_headers

ENVELOPE = ("reward", "done", "truncated", "metadata")
"""The fields every observation carries; they are the 5-tuple's and `info`, not the observation."""


def to_gymnasium(env: Any) -> GymnasiumAdapter:
    """`env`, an envtorch `Environment` or an `EnvClient`, as a `gymnasium.Env`.

    See `GymnasiumAdapter` for how the spaces, the 5-tuple, rendering and `spec` are derived.
    Closing the Gymnasium env closes `env`.
    """
    return GymnasiumAdapter(env)


class GymnasiumAdapter(gymnasium.Env[Any, Any]):
    """An envtorch env or `EnvClient` behind Gymnasium's API.

    - `action_space` and `observation_space` come from the action and observation types (their
      JSON Schemas; a client asks its server for them): a type with one field has that field's
      space, and its values are the field's; a type with several fields has a `Dict` space keyed
      by field name. `reward`, `done`, `truncated` and `metadata` are not part of the
      observation. A Gymnasium env served by envtorch comes back with its exact spaces.
    - `reset(seed=, options=)` is the env's `reset(seed=seed, task=options)` and returns
      `(observation, info)`, `info` being the observation's `metadata`.
    - `step(action)` returns `(observation, reward, terminated, truncated, info)`: the reward is
      0.0 where the env gave none, `truncated` is the observation's and `terminated` is `done`
      without `truncated`.
    - `render_mode` is the env's (a client's is the one its server was started with), and
      `render()` its frame, a uint8 array in `rgb_array` mode.
    - `spec.make()` builds another: a new session on the same server for a client, the same
      Gymnasium env again for a `GymnasiumEnv` (its spec is None when the Gymnasium env had
      none), and for any other env its class, given only `render_mode`.
    """

    def __init__(self, env: Any) -> None:
        if inspect.iscoroutinefunction(getattr(env, "reset", None)):
            raise TypeError(
                "to_gymnasium() needs a synchronous env: use EnvClient, not AsyncEnvClient"
            )
        description = _Description.of(env)
        self.env = env
        self.render_mode = description.render_mode
        self.metadata = description.gymnasium_metadata()
        self._action = _Fields.of(description.schemas["action"])
        self._observation = _Fields.of(description.schemas["observation"], leave_out=ENVELOPE)
        self.action_space = self._action.space
        self.observation_space = self._observation.space
        self.spec = _spec(env, description)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode; `options` is the envtorch task."""
        super().reset(seed=seed)
        observation = self.env.reset(seed=seed, task=options)
        return self._observation.value(observation), dict(observation.metadata)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Apply `action`, a value of `action_space`."""
        observation = self.env.step(self.env.action_type(**self._action.fields(action)))
        truncated = bool(observation.truncated)
        return (
            self._observation.value(observation),
            float(observation.reward or 0.0),
            bool(observation.done) and not truncated,
            truncated,
            dict(observation.metadata),
        )

    def render(self) -> Any:
        """The env's frame in `render_mode`."""
        frame = self.env.render()
        if self.render_mode == "rgb_array" and frame is not None:
            return np.asarray(frame, dtype=np.uint8)
        return frame

    def close(self) -> None:
        """Close the envtorch env (a client ends its session). Idempotent."""
        self.env.close()

    def __repr__(self) -> str:
        return f"GymnasiumAdapter({self.env!r})"


@dataclass
class _Description:
    """What an envtorch env says about itself: its types' JSON Schemas, metadata, render mode."""

    schemas: dict[str, Any]
    metadata: dict[str, Any]
    render_mode: str | None

    @classmethod
    def of(cls, env: Any) -> _Description:
        """A local env's description from its class; a client's from its server."""
        if isinstance(env, Environment):
            env_type = type(env)
            metadata = {"name": env_type.__name__, **env_type.metadata}
            return cls(schemas(env_type), metadata, env.render_mode)
        url = getattr(env, "url", None)
        if not isinstance(url, str):
            raise TypeError(
                f"to_gymnasium() takes an envtorch Environment or an EnvClient, "
                f"got {type(env).__name__}"
            )
        from envtorch.client.base import http_url
        from envtorch.client.schema import fetch_json

        headers = auth_headers()
        metadata = fetch_json(http_url(url, "/metadata"), headers, env.timeout)
        schema = fetch_json(http_url(url, "/schema"), headers, env.timeout)
        metadata["render_modes"] = [metadata["render_mode"]] if metadata["render_mode"] else []
        return cls(schema, metadata, metadata["render_mode"])

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    def gymnasium_metadata(self) -> dict[str, Any]:
        """Gymnasium's `metadata`: the render modes and, when known, the frame rate."""
        metadata: dict[str, Any] = {"render_modes": list(self.metadata.get("render_modes", []))}
        if self.metadata.get("render_fps") is not None:
            metadata["render_fps"] = self.metadata["render_fps"]
        return metadata


@dataclass
class _Fields:
    """The fields of an action or observation type that Gymnasium sees, and their space."""

    names: list[str]
    space: Any

    @classmethod
    def of(cls, schema: dict[str, Any], leave_out: tuple[str, ...] = ()) -> _Fields:
        definitions = schema.get("$defs", {})
        properties = {
            name: field
            for name, field in schema.get("properties", {}).items()
            if name not in leave_out
        }
        if len(properties) == 1:
            [(name, field)] = properties.items()
            return cls([name], space_of(field, definitions))
        return cls(
            list(properties),
            spaces.Dict({name: space_of(field, definitions) for name, field in properties.items()}),
        )

    def value(self, data: Any) -> Any:
        """The value of `space` that an observation holds."""
        if len(self.names) == 1:
            return space_value(self.space, getattr(data, self.names[0]))
        return space_value(self.space, {name: getattr(data, name) for name in self.names})

    def fields(self, value: Any) -> dict[str, Any]:
        """An action's fields for a value of `space`, as JSON data."""
        if len(self.names) == 1:
            return {self.names[0]: plain(value)}
        return dict(plain(value))


def _spec(env: Any, description: _Description) -> EnvSpec | None:
    factory = _factory(env, description)
    if factory is None:
        return None
    return EnvSpec(
        id=f"envtorch/{_spec_name(description.name)}", entry_point=partial(_adapted, factory)
    )


def _factory(env: Any, description: _Description) -> Any:
    """A callable taking `render_mode=` that builds an env like `env`; it survives deepcopy,
    as Gymnasium's wrappers copy their env's spec."""
    if isinstance(env, GymnasiumEnv):
        spec = env.gymnasium_env.spec
        if spec is None:
            return None
        return partial(
            make_gymnasium,
            spec,
            max_steps=env.max_steps,
            time_limit=env.time_limit,
            transform=env.transform,
        )
    if isinstance(env, Environment):
        return type(env)
    return partial(_session, type(env), env.url, description.render_mode)


def _adapted(factory: Any, **kwargs: Any) -> GymnasiumAdapter:
    return GymnasiumAdapter(factory(**kwargs))


def _session(client_type: type, url: str, served_mode: str | None, render_mode: Any = None) -> Any:
    """A new client session on the server at `url`, which renders in `served_mode` only."""
    if render_mode not in (None, served_mode):
        raise ValueError(
            f"the server at {url} was started with render_mode={served_mode!r}; it cannot "
            f"render in {render_mode!r} (serve it with --kwarg render_mode={render_mode})"
        )
    return client_type(url)


def _spec_name(name: str) -> str:
    """`name` with the characters Gymnasium ids allow (`[\\w:.-]`); others become `_`."""
    return "".join(char if char.isalnum() or char in "_:.-" else "_" for char in name)
