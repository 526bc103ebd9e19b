"""TRL: `to_trl(envs)` makes envtorch environments TRL's `GRPOTrainer(environment_factory=...)`.

```python
from functools import partial
from trl import GRPOConfig, GRPOTrainer

trainer = GRPOTrainer(
    model="Qwen/Qwen3-0.6B",
    args=GRPOConfig(max_completion_length=256),
    train_dataset=Dataset.from_list(math_tasks(1024)),
    environment_factory=to_trl(partial(EnvClient, url, PythonEnv)),
)
```

The bridge imports neither TRL nor transformers: it builds the objects TRL expects (see
`TRLEnvironment`). TRL's `AsyncGRPOTrainer` pickles the factory, which holds `envs`: pass a
class or a `functools.partial` there, not a lambda.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import re
import typing
import weakref
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

from envtorch.core import Action, Observation, ResetNeeded, ValidationError, codec

ENVELOPE = frozenset(field.name for field in dataclasses.fields(Observation))
"""The fields every observation carries; the text shown to the model leaves them out."""

EPISODE_OVER = "The episode is over."
"""The line a tool reply ends with once the env said `done`."""


def to_trl(envs: Callable[[], Any]) -> Callable[[], TRLEnvironment]:
    """An `environment_factory` for TRL's `GRPOTrainer` from a factory of env handles.

    `envs` is what `Collector` takes: called with no arguments, it returns a local
    `Environment` or an `EnvClient` (a served env; `AsyncEnvClient` is refused, as TRL calls
    environments synchronously). Each call of the returned factory makes one handle and wraps
    it in a `TRLEnvironment`; the factory is a `functools.partial`, picklable when `envs` is.
    """
    if not callable(envs):
        raise TypeError(f"envs must be a factory of env handles (a callable), got {envs!r}")
    return partial(_environment, envs)


class TRLEnvironment:
    """One envtorch env handle as TRL drives an environment: `reset(**row)`, one tool, a reward.

    - `reset(**row)` starts an episode whose task is the dataset row (every column, so a hidden
      answer stays with the env) and returns the first observation as the text appended to the
      prompt: a dataset needs no prompt column.
    - The env's action is the one tool: named after the action type (`CodeAction` gives `code`,
      `MathAnswer` gives `math_answer`), its arguments are the action's fields, its docstring is
      the action's, in the Google style TRL reads. A call is one `step()`; the reply is the
      observation as text (a lone text field as is, else its non-default fields as JSON), ending
      with `EPISODE_OVER` once the env says `done`. Arguments that do not fit the action, or a
      call after the end, raise; TRL shows the model the error.
    - `get_reward()` is the episode's reward: the sum of its step rewards, as the env's
      transforms gave them (0.0 without a step), or None when the env side failed, which TRL
      leaves out of the advantages rather than count as 0.

    A handle that failed is closed and the next `reset()` makes a new one. TRL never closes
    the environments it pools; the handle is closed when this object is garbage-collected (with
    the trainer) or at exit.
    """

    _action_type: type

    def __init__(self, envs: Callable[[], Any], handle: Any) -> None:
        self._handle = _Handle(envs, handle)
        self._action_type = handle.action_type
        self._rewards: list[float] = []
        self._failure: str | None = None
        self._running = False
        self._finalizer = weakref.finalize(self, self._handle.discard)

    def reset(self, **row: Any) -> str:
        """Start an episode with the dataset row as its task; return its first observation."""
        self._rewards, self._failure, self._running = [], None, False
        env = self._handle.get()
        try:
            observation = env.reset(task=row)
        except Exception:
            self._handle.discard()
            raise
        self._running = not observation.done
        return observation_text(observation)

    def get_reward(self) -> float | None:
        """The episode's reward, or None when the env side failed."""
        if self._failure is not None:
            return None
        return float(sum(self._rewards))

    def _act(self, arguments: dict[str, Any]) -> str:
        """One step with the action built from the tool's arguments; the observation as text."""
        if not self._running:
            raise ResetNeeded(
                self._failure or "no episode is running: it is over, or reset() was not called"
            )
        action: Any = codec.from_builtins(arguments, self._action_type)
        try:
            observation = self._handle.get().step(action)
        except ValidationError:
            raise
        except Exception as error:
            self._failed(error)
            raise
        self._rewards.append(observation.reward or 0.0)
        self._running = not observation.done
        text = observation_text(observation)
        if observation.done:
            return f"{text}\n{EPISODE_OVER}" if text else EPISODE_OVER
        return text

    def _failed(self, error: Exception) -> None:
        """The env side failed: the episode ends without a reward and the handle is replaced."""
        self._failure = f"the env failed: {type(error).__name__}: {error}"
        self._running = False
        self._handle.discard()


def observation_text(observation: Any) -> str:
    """What the model is shown of an observation: a lone text field as is, else the fields
    that differ from their defaults as JSON; never `reward`, `done`, `truncated`, `metadata`."""
    shown = _shown_fields(observation)
    if len(shown) == 1 and isinstance(only := next(iter(shown.values())), str):
        return only
    return codec.encode(shown).decode() if shown else ""


def _shown_fields(observation: Any) -> dict[str, Any]:
    values = codec.to_builtins(observation)
    shown = {}
    for field in dataclasses.fields(observation):
        if field.name in ENVELOPE:
            continue
        value = values[field.name]
        if _has_default(field) and value == codec.to_builtins(_default(field)):
            continue
        shown[field.name] = value
    return shown


class _Handle:
    """The env handle of one `TRLEnvironment`: `envs` makes another after `discard()`."""

    def __init__(self, envs: Callable[[], Any], env: Any) -> None:
        self.envs = envs
        self.env: Any = env

    def get(self) -> Any:
        if self.env is None:
            self.env = _sync_handle(self.envs())
        return self.env

    def discard(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            with contextlib.suppress(Exception):
                env.close()


def _environment(envs: Callable[[], Any]) -> TRLEnvironment:
    """What the factory returned by `to_trl` makes: a handle, wrapped with its action's tool."""
    handle = _sync_handle(envs())
    return _environment_class(*_tool_of(handle.action_type))(envs, handle)


def _sync_handle(handle: Any) -> Any:
    if inspect.iscoroutinefunction(getattr(handle, "step", None)):
        raise TypeError(
            f"to_trl() needs synchronous env handles, as TRL calls reset() and the tools "
            f"without awaiting them; envs made a {type(handle).__name__}: make an EnvClient "
            "(not an AsyncEnvClient) or a local env"
        )
    for method in ("reset", "step", "close", "action_type"):
        if not hasattr(handle, method):
            raise TypeError(
                f"envs must make env handles (an Environment or an EnvClient), got "
                f"{type(handle).__name__} without {method}"
            )
    return handle


@dataclasses.dataclass(frozen=True)
class _Argument:
    """One argument of the tool: an action field, its type and whether it may be left out."""

    name: str
    annotation: Any
    optional: bool


def _tool_of(action_type: type) -> tuple[str, str, tuple[_Argument, ...]]:
    """The tool's name, docstring and arguments for an action type."""
    if not (isinstance(action_type, type) and issubclass(action_type, Action)):
        raise TypeError(f"the env's action_type must be an Action dataclass, got {action_type!r}")
    name = _tool_name(action_type.__name__)
    hints = typing.get_type_hints(action_type)
    arguments = tuple(
        _Argument(field.name, hints.get(field.name, Any), _has_default(field))
        for field in dataclasses.fields(action_type)
    )
    lines = [_description(action_type), "", "Args:"]
    lines += [f"    {argument.name}: The action's {argument.name}." for argument in arguments]
    return name, "\n".join(lines), arguments


@lru_cache(maxsize=256)
def _environment_class(
    name: str, doc: str, arguments: tuple[_Argument, ...]
) -> type[TRLEnvironment]:
    """The `TRLEnvironment` subclass with one tool: the same class for the same tool, as TRL
    matches environments to their reward by exact class."""

    def tool(self: TRLEnvironment, **given: Any) -> str:
        return self._act(given)

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [
        inspect.Parameter(
            argument.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=argument.annotation,
            default=None if argument.optional else inspect.Parameter.empty,
        )
        for argument in arguments
    ]
    tool.__signature__ = inspect.Signature(parameters, return_annotation=str)  # type: ignore[attr-defined]
    tool.__annotations__ = {a.name: a.annotation for a in arguments} | {"return": str}
    tool.__doc__ = doc
    tool.__name__ = name
    class_name = "".join(part.title() for part in name.split("_")) + "Environment"
    tool.__qualname__ = f"{class_name}.{name}"
    return type(class_name, (TRLEnvironment,), {name: tool, "__module__": __name__})


def _tool_name(action_name: str) -> str:
    """`CodeAction` gives `code`, `MathAnswer` gives `math_answer`, `Action` gives `act`."""
    stem = action_name.removesuffix("Action") or "Act"
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", stem).lower()
    name = re.sub(r"\W+", "_", name).strip("_")
    if not name.isidentifier() or name in ("reset", "get_reward"):
        return f"{name}_action" if name.isidentifier() else "act"
    return name


def _description(action_type: type) -> str:
    """The first paragraph of the action type's own docstring, else a sentence naming it."""
    doc = action_type.__doc__ or ""
    if not doc or doc.startswith(f"{action_type.__name__}("):
        return f"Take one step with a {action_type.__name__}."
    return inspect.cleandoc(doc).split("\n\n")[0]


def _has_default(field: dataclasses.Field[Any]) -> bool:
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default
