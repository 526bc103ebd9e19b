"""The three data types every environment speaks: actions, observations and state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Action:
    """What a policy sends to `Environment.step()`. Subclass it to add fields."""


@dataclass(kw_only=True)
class Observation:
    """What an environment returns from `reset()` and `step()`.

    `reward` is `None` where nothing was rewarded (after `reset()`, for instance). `done` ends the
    episode; `truncated` says an outside budget such as `max_steps` ended it rather than the task.
    `metadata` carries extra information for logging, such as the terms of a reward sum.
    """

    reward: float | None = None
    done: bool = False
    truncated: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class State:
    """What an environment knows about its episode, hidden parts included.

    `task` is what `reset(task=...)` received, as the dataloader yielded it. Subclasses add fields
    with defaults; the environment creates its state from `episode_id`, `step_count` and `task`.
    """

    episode_id: str | None = None
    step_count: int = 0
    task: Any = None
