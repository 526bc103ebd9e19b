"""`check_env`: verify that an environment keeps the envtorch contract.

Safe for code-running environments: it never sends random code. Its actions are the minimal
values of the action type's fields (empty strings, zeros, empty containers), or those given.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from envtorch.core import (
    Action,
    EnvClosed,
    Environment,
    EnvtorchError,
    Observation,
    ResetNeeded,
    State,
    decode,
    encode,
    schemas,
    to_builtins,
    visible_builtins,
)


class CheckFailed(EnvtorchError, AssertionError):
    """An environment broke the contract; the message says which check and how."""


@dataclass
class CheckReport:
    """The names of the checks an environment passed, in order."""

    env_name: str
    passed: list[str] = dataclasses.field(default_factory=list)


def check_env(
    factory: Callable[..., Environment],
    actions: Sequence[Action] | None = None,
    task: Any = None,
    seed: int = 0,
) -> CheckReport:
    """Run every contract check on environments built by `factory` (called with no arguments or
    with `render_mode=`). Raises `CheckFailed` naming the first check that failed.

    `actions` default to the action type's minimal instance; `task`, when given, goes to
    `reset()` and must come back in `state.task`. A state field that changes with the seed but
    appears in no observation fails: the server would send it to every client, so it must be
    declared with `hidden(...)`.
    """
    probe = _build(factory)
    env_type = type(probe)
    probe.close()
    actions = list(actions) if actions is not None else [minimal_instance(env_type.action_type)]
    report = CheckReport(env_name=env_type.__name__)
    checks = [
        ("declared types", lambda: _check_declared_types(env_type)),
        ("schemas", lambda: _check_schemas(env_type)),
        ("step before reset", lambda: _check_step_before_reset(factory, actions[0])),
        ("reset", lambda: _check_reset(factory, task, seed)),
        ("step", lambda: _check_steps(factory, actions, seed)),
        ("codec round trips", lambda: _check_round_trips(factory, actions, seed)),
        ("determinism under a seed", lambda: _check_determinism(factory, actions, seed)),
        ("hidden state", lambda: _check_hidden_state(factory, env_type, actions, seed)),
        ("render modes", lambda: _check_render_modes(factory, env_type, seed)),
        ("close", lambda: _check_close(factory, actions[0], seed)),
    ]
    for name, check in checks:
        try:
            check()
        except CheckFailed as failure:
            raise CheckFailed(f"{env_type.__name__}: {name}: {failure}") from None
        except Exception as error:
            raise CheckFailed(
                f"{env_type.__name__}: {name}: raised {type(error).__name__}: {error}"
            ) from error
        report.passed.append(name)
    return report


def minimal_instance(type_: type) -> Any:
    """The simplest valid value of `type_`: empty strings, zeros, empty containers, defaults."""
    if dataclasses.is_dataclass(type_):
        hints = typing.get_type_hints(type_)
        values = {
            field.name: minimal_instance(hints[field.name])
            for field in dataclasses.fields(type_)
            if field.init and _is_required(field)
        }
        return type_(**values)
    origin = typing.get_origin(type_)
    if origin in (typing.Union, types.UnionType):
        arguments = typing.get_args(type_)
        return None if type(None) in arguments else minimal_instance(arguments[0])
    if origin is typing.Literal:
        return typing.get_args(type_)[0]
    simple = {str: "", int: 0, float: 0.0, bool: False, bytes: b""}
    if type_ in simple:
        return simple[type_]
    container = origin or type_
    if container in (list, tuple, set, frozenset, dict):
        return container()
    return None


def _assert(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _build(factory: Callable[..., Environment], **kwargs: Any) -> Environment:
    env = factory(**kwargs)
    _assert(isinstance(env, Environment), f"the factory returned {type(env).__name__}")
    return env


def _check_declared_types(env_type: type[Environment]) -> None:
    for attribute, base in [
        ("action_type", Action),
        ("observation_type", Observation),
        ("state_type", State),
    ]:
        declared = getattr(env_type, attribute)
        _assert(
            isinstance(declared, type) and issubclass(declared, base),
            f"{attribute} must be a subclass of {base.__name__}, got {declared!r}",
        )
        _assert(
            dataclasses.is_dataclass(declared),
            f"{attribute} {declared.__name__} is not a dataclass",
        )
    _assert(
        isinstance(env_type.metadata.get("render_modes"), list),
        'metadata["render_modes"] must be a list',
    )


def _check_schemas(env_type: type[Environment]) -> None:
    for name, schema in schemas(env_type).items():
        _assert(schema.get("type") == "object", f"the {name} schema is not an object: {schema}")


def _check_step_before_reset(factory: Callable[..., Environment], action: Action) -> None:
    env = _build(factory)
    try:
        env.step(action)
    except ResetNeeded:
        return
    finally:
        env.close()
    raise CheckFailed("step() before reset() did not raise ResetNeeded")


def _check_reset(factory: Callable[..., Environment], task: Any, seed: int) -> None:
    env = _build(factory)
    try:
        observation = env.reset(seed=seed, task=task)
        _check_observation(env, observation, "reset()")
        state = env.state
        _assert(isinstance(state, env.state_type), f"state is {type(state).__name__}")
        _assert(state.step_count == 0, f"state.step_count is {state.step_count} after reset()")
        _assert(bool(state.episode_id), "state.episode_id is empty after reset()")
        if task is not None:
            _assert(state.task == task, "state.task does not hold the task given to reset()")
    finally:
        env.close()


def _check_steps(factory: Callable[..., Environment], actions: list[Action], seed: int) -> None:
    env = _build(factory)
    try:
        env.reset(seed=seed)
        for count, action in enumerate(actions, start=1):
            observation = env.step(action)
            _check_observation(env, observation, f"step {count}")
            _assert(
                env.state.step_count == count,
                f"state.step_count is {env.state.step_count} after {count} step(s)",
            )
            if observation.done:
                break
    finally:
        env.close()


def _check_observation(env: Environment, observation: Any, where: str) -> None:
    expected = env.observation_type
    _assert(
        isinstance(observation, expected),
        f"{where} returned {type(observation).__name__}, expected {expected.__name__}",
    )
    _assert(
        observation.reward is None or isinstance(observation.reward, (int, float)),
        f"{where}: reward must be a float or None, got {observation.reward!r}",
    )
    _assert(isinstance(observation.done, bool), f"{where}: done must be a bool")
    _assert(isinstance(observation.truncated, bool), f"{where}: truncated must be a bool")
    _assert(isinstance(observation.metadata, dict), f"{where}: metadata must be a dict")


def _check_round_trips(
    factory: Callable[..., Environment], actions: list[Action], seed: int
) -> None:
    env = _build(factory)
    try:
        values: list[Any] = [env.reset(seed=seed), *actions, env.step(actions[0]), env.state]
        for value in values:
            decoded = decode(encode(value), type(value))
            _assert(
                to_builtins(decoded) == to_builtins(value),
                f"{type(value).__name__} changes in an encode/decode round trip: "
                f"{to_builtins(value)} became {to_builtins(decoded)}",
            )
    finally:
        env.close()


def _check_determinism(
    factory: Callable[..., Environment], actions: list[Action], seed: int
) -> None:
    runs = [_episode_trace(factory, actions, seed) for _ in range(2)]
    _assert(
        runs[0] == runs[1],
        f"two episodes with seed={seed} and the same actions differ: {runs[0]} != {runs[1]}",
    )


def _episode_trace(factory: Callable[..., Environment], actions: list[Action], seed: int) -> list:
    env = _build(factory)
    try:
        trace = [_comparable(env.reset(seed=seed))]
        for action in actions:
            observation = env.step(action)
            trace.append(_comparable(observation))
            if observation.done:
                break
        return trace
    finally:
        env.close()


def _comparable(observation: Observation) -> Any:
    """An observation's data without `metadata`, which may hold timings."""
    data = to_builtins(observation)
    data.pop("metadata", None)
    return data


_SEEDS_COMPARED = 5


@dataclass
class _SentEpisode:
    """What a client could read of one episode: each state as the server sends it (after `reset()`
    and after each step), and every value in the episode's observations."""

    states: list[dict[str, Any]]
    shown: list[Any]


def _check_hidden_state(
    factory: Callable[..., Environment],
    env_type: type[Environment],
    actions: list[Action],
    seed: int,
) -> None:
    names = _sent_state_fields(env_type.state_type)
    if not names:
        return
    rerun = _sent_episode(factory, actions, seed)
    episodes = [_sent_episode(factory, actions, seed + offset) for offset in range(_SEEDS_COMPARED)]
    for name in names:
        if _follows_the_seed(name, rerun, episodes[0]):
            _require_shown_where_it_varies(name, episodes)


def _sent_state_fields(state_type: type[State]) -> list[str]:
    """The state's own fields that a server sends to clients: neither hidden nor bookkeeping."""
    return [
        name for name in visible_builtins(state_type()) if name not in ("episode_id", "step_count")
    ]


def _sent_episode(
    factory: Callable[..., Environment], actions: list[Action], seed: int
) -> _SentEpisode:
    env = _build(factory)
    try:
        observations = [env.reset(seed=seed)]
        states = [visible_builtins(env.state)]
        for action in actions:
            observations.append(env.step(action))
            states.append(visible_builtins(env.state))
            if observations[-1].done:
                break
        shown = [value for observation in observations for value in _shown_values(observation)]
        return _SentEpisode(states=states, shown=shown)
    finally:
        env.close()


def _shown_values(observation: Observation) -> list[Any]:
    """The observation's values but for `reward`, `done` and `truncated`, which show no state."""
    data = to_builtins(observation)
    for name in ("reward", "done", "truncated"):
        data.pop(name, None)
    return _scalars(data)


def _follows_the_seed(name: str, rerun: _SentEpisode, episode: _SentEpisode) -> bool:
    """Whether the field repeats when the seed does; one that does not (a clock, a uuid) is noise
    rather than episode data."""
    return [state[name] for state in rerun.states] == [state[name] for state in episode.states]


def _require_shown_where_it_varies(name: str, episodes: list[_SentEpisode]) -> None:
    """Fail when the field differs across seeds at some point of the episode and, there, one
    episode's value appears nowhere in that episode's observations."""
    for moment in zip(*(episode.states for episode in episodes), strict=False):
        values = [state[name] for state in moment]
        if all(value == values[0] for value in values):
            continue
        for value, episode in zip(values, episodes, strict=True):
            _assert(
                _appears(value, episode.shown),
                f"state.{name} changes with the seed but appears in no observation, so any "
                f"client reads it from the state (here {value!r}): declare it with "
                f"hidden(default=...), or show it in an observation",
            )


def _appears(value: Any, shown: list[Any]) -> bool:
    """Whether every scalar in `value` equals a shown value or is written as a word in one."""
    return all(
        any(_same_scalar(scalar, item) or _written_in(scalar, item) for item in shown)
        for scalar in _scalars(value)
        if scalar not in (None, "")
    )


def _scalars(value: Any) -> list[Any]:
    """The strings, numbers, booleans and nulls in plain data, dictionary keys aside."""
    if isinstance(value, dict):
        return [scalar for item in value.values() for scalar in _scalars(item)]
    if isinstance(value, list):
        return [scalar for item in value for scalar in _scalars(item)]
    return [value]


def _same_scalar(scalar: Any, item: Any) -> bool:
    return scalar == item and isinstance(scalar, bool) == isinstance(item, bool)


def _written_in(scalar: Any, item: Any) -> bool:
    """Whether `item` is a text holding `scalar`: a string anywhere, a number or a boolean as a
    whole word (49 is in "it is 49." but not in "149" or "49.5")."""
    if not isinstance(item, str):
        return False
    if isinstance(scalar, str):
        return scalar in item
    return any(
        re.search(rf"(?<![\w.]){re.escape(spelling)}(?!\w|\.\d)", item)
        for spelling in {str(scalar), json.dumps(scalar)}
    )


def _check_render_modes(
    factory: Callable[..., Environment], env_type: type[Environment], seed: int
) -> None:
    for mode in env_type.metadata.get("render_modes", []):
        env = _build(factory, render_mode=mode)
        try:
            env.reset(seed=seed)
            frame = env.render()
            if mode == "ansi":
                _assert(isinstance(frame, str), f"render() in 'ansi' mode returned {frame!r}")
            elif mode == "rgb_array":
                _assert(hasattr(frame, "shape"), "render() in 'rgb_array' mode returned no array")
        finally:
            env.close()


def _check_close(factory: Callable[..., Environment], action: Action, seed: int) -> None:
    env = _build(factory)
    env.reset(seed=seed)
    env.close()
    env.close()
    try:
        env.step(action)
    except EnvClosed:
        return
    raise CheckFailed("step() after close() did not raise EnvClosed")


def _is_required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
