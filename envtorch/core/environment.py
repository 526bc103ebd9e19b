"""The `Environment` base class: the contract every envtorch environment keeps."""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from envtorch.core.errors import CannotFork, EnvClosed, ResetNeeded
from envtorch.core.transforms import TransformLike
from envtorch.core.types import Action, Observation, State

ActT = TypeVar("ActT", bound=Action)
ObsT = TypeVar("ObsT", bound=Observation)
StateT = TypeVar("StateT", bound=State)


class Environment(Generic[ActT, ObsT, StateT]):
    """An environment holds an episode's state and answers actions with observations.

    Subclasses declare `action_type`, `observation_type` and `state_type`, and implement `_reset()`
    and `_step()`; the public `reset()`, `step()`, `state`, `render()` and `close()` keep the
    contract around them:

    - `reset(*, seed=None, task=None)` starts a new episode and returns its first observation.
      `seed` re-seeds `self.rng` (a `random.Random`) so that the same seed gives the same episode;
      `task` is whatever a dataloader yielded and is kept in `state.task`. Only what the
      environment puts into the observation is visible to the policy.
    - `step(action)` advances the episode by one action and returns an observation carrying
      `reward`, `done` and `truncated`. Calling it before `reset()` or after `done` raises
      `ResetNeeded`. When the `max_steps` budget is reached, or the episode has run for
      `time_limit` seconds, the observation comes back `done` and `truncated`.
    - `state` is the live `State` of the current episode, hidden parts included.
    - `render()` renders in the `render_mode` fixed at construction, which must be one of
      `metadata["render_modes"]`; it returns `None` when no render mode was chosen, else raises
      `ResetNeeded` before the first `reset()`.
    - `close()` releases resources; calling it twice is harmless, using the env afterwards raises
      `EnvClosed`.
    - `fork(n)` returns `n` independent environments that go on from the running episode as it
      is now (state, step count, task, rng), each under a new `episode_id`; `CannotFork` says
      why an environment cannot.
    - `tools()` names the functions an agent may also call directly, outside `step()` (a server
      offers them as MCP tools at `/mcp`); none by default.

    A `transform` given at construction runs on every observation inside `reset()` (with
    `action=None`) and `step()`, before the step budget is applied.
    """

    action_type: ClassVar[type[Action]] = Action
    observation_type: ClassVar[type[Observation]] = Observation
    state_type: ClassVar[type[State]] = State
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    nonblocking: ClassVar[bool] = False
    """True when `reset`, `step`, `state` and `render` only compute (no I/O, no sleep, no
    subprocess) and return within about a millisecond: a server may then run them on its event
    loop instead of handing every call to a thread. Leave it False when in doubt."""
    spec: Any = None
    """The `envtorch.registry.EnvSpec` that `envtorch.make()` built this env from (its id, entry
    point and keyword arguments); None for an env built another way."""

    def __init__(
        self,
        *,
        render_mode: str | None = None,
        max_steps: int | None = None,
        time_limit: float | None = None,
        transform: TransformLike | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata.get("render_modes", []):
            raise ValueError(
                f"render_mode {render_mode!r} is not supported by {type(self).__name__}; "
                f"choose one of {self.metadata.get('render_modes', [])} or None"
            )
        if max_steps is not None and not _is_positive_integer(max_steps):
            raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
        if time_limit is not None and not _is_positive_number(time_limit):
            raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
        self.render_mode = render_mode
        self.max_steps = max_steps
        self.time_limit = time_limit
        self._episode_start = 0.0
        self.transform = transform
        self.rng = random.Random()
        self._state: StateT | None = None
        self._episode_over = True
        self._closed = False

    def reset(self, *, seed: int | None = None, task: Any = None) -> ObsT:
        """Start a new episode and return its first observation."""
        self._require_open()
        self._episode_over = True
        if seed is not None:
            self.rng.seed(seed)
        self._state = cast(
            StateT, self.state_type(episode_id=uuid.uuid4().hex, step_count=0, task=task)
        )
        self._episode_start = time.monotonic()
        observation = self._reset(seed=seed, task=task)
        observation = self._transformed(observation, None)
        self._episode_over = observation.done
        return observation

    def step(self, action: ActT) -> ObsT:
        """Apply one action and return the resulting observation."""
        state = self._state
        if state is None or self._episode_over or self._closed:
            state = self._running_state()
        if not isinstance(action, self.action_type):
            raise TypeError(
                f"{type(self).__name__}.step() expects a {self.action_type.__name__}, "
                f"got {type(action).__name__}"
            )
        state.step_count += 1
        observation = self._transformed(self._step(action), action)
        if not observation.done and self._budget_spent():
            observation.done = True
            observation.truncated = True
        self._episode_over = observation.done
        return observation

    @property
    def state(self) -> StateT:
        """The current episode's state; `ResetNeeded` before the first `reset()`."""
        self._require_open()
        if self._state is None:
            raise ResetNeeded(f"{type(self).__name__} has no episode yet: call reset() first")
        return self._state

    @property
    def episode_over(self) -> bool:
        """True before the first `reset()` and once an observation came back `done`."""
        return self._episode_over

    def render(self) -> Any:
        """Render the current episode in `render_mode`, or return None without a render mode;
        with one, `ResetNeeded` before the first `reset()`."""
        self._require_open()
        if self.render_mode is None:
            return None
        if self._state is None:
            raise ResetNeeded(f"{type(self).__name__} has nothing to render: call reset() first")
        return self._render()

    def fork(self, count: int) -> list[Self]:
        """`count` environments that go on from the running episode, independently of it and of
        each other; each copy's state keeps the step count and the task under a new episode id.

        The base class copies the whole environment with `copy.deepcopy`, which suits
        environments whose state is plain data; one that holds a process, a socket or a
        connection overrides `_fork`, or raises `CannotFork`.
        """
        self._require_open()
        if self._state is None or self._episode_over:
            raise ResetNeeded(f"{type(self).__name__}.fork() needs a running episode")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        copies = self._fork(count)
        for twin in copies:
            twin.state.episode_id = uuid.uuid4().hex
        return copies

    def tools(self) -> dict[str, Callable[..., Any]]:
        """Functions by name that an agent may call outside `step()`, with JSON arguments by
        keyword and a JSON result; they act on the current episode. None by default."""
        return {}

    def close(self) -> None:
        """Release the environment's resources. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._close()

    def __enter__(self) -> Environment[ActT, ObsT, StateT]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _reset(self, *, seed: int | None, task: Any) -> ObsT:
        """Begin the episode in `self.state` and return its first observation."""
        raise NotImplementedError

    def _step(self, action: ActT) -> ObsT:
        """Apply a validated action to a running episode and return the observation."""
        raise NotImplementedError

    def _render(self) -> Any:
        """Render in `self.render_mode`, which is one of `metadata["render_modes"]`."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release resources; called once by `close()`."""

    def _fork(self, count: int) -> list[Self]:
        """`count` copies of this environment, episode included; called by `fork()`."""
        try:
            return [copy.deepcopy(self) for _ in range(count)]
        except (TypeError, copy.Error, AttributeError, RecursionError) as error:
            raise CannotFork(
                f"{type(self).__name__} cannot fork: copy.deepcopy of it fails ({error}); "
                "override _fork() to copy its state"
            ) from None

    def _transformed(self, observation: ObsT, action: ActT | None) -> ObsT:
        if self.transform is None:
            return observation
        return cast(ObsT, self.transform(observation, action, self.state))

    def _budget_spent(self) -> bool:
        """Whether the episode has taken `max_steps` steps or run for `time_limit` seconds."""
        if self.max_steps is None and self.time_limit is None:
            return False
        steps_spent = self.max_steps is not None and self.state.step_count >= self.max_steps
        seconds_left = self._seconds_left()
        return steps_spent or (seconds_left is not None and seconds_left <= 0)

    def _seconds_left(self) -> float | None:
        """What is left of the episode's `time_limit` in seconds; None without a limit."""
        if self.time_limit is None:
            return None
        return self.time_limit - (time.monotonic() - self._episode_start)

    def _require_open(self) -> None:
        if self._closed:
            raise EnvClosed(f"{type(self).__name__} is closed")

    def _running_state(self) -> StateT:
        """The running episode's state; `EnvClosed` or `ResetNeeded` when there is none."""
        self._require_open()
        if self._state is None:
            raise ResetNeeded(f"{type(self).__name__}.step() called before reset()")
        if self._episode_over:
            raise ResetNeeded(
                f"{type(self).__name__}.step() called after the episode ended; call reset()"
            )
        return self._state

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(render_mode={self.render_mode!r}, max_steps={self.max_steps})"
        )


def _is_positive_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_positive_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
