"""The three data types every environment speaks: actions, observations and state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HIDDEN = "envtorch.hidden"


def hidden(**kwargs: Any) -> Any:
    """A `State` field the environment keeps to itself, like a poker hand or a task's answer.

    Takes `dataclasses.field` arguments (give a `default` or `default_factory`). A server leaves
    hidden fields out of the state it sends, so remote clients read them as their defaults.
    """
    return field(metadata={HIDDEN: True}, **kwargs)


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

    `task` is what `reset(task=...)` received, as the dataloader yielded it. It is `hidden`: a
    server never sends it, so a task's answer stays with the environment. Subclasses add fields
    with defaults, hiding what the policy must not learn with `hidden(default=...)`; the
    environment creates its state from `episode_id`, `step_count` and `task`.
    """

    episode_id: str | None = None
    step_count: int = 0
    task: Any = hidden(default=None)
