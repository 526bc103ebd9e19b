"""What a collector yields: trajectories, and batches of them with the helpers a trainer needs."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Any

from envtorch.core import Observation
from envtorch.core.codec import encode, to_builtins
from envtorch.core.extras import import_optional


@dataclass(kw_only=True)
class Step:
    """One turn: the observation the policy saw, the action it chose and the reward it earned.

    `policy_data` is what the policy handed back with the action in a `PolicyOutput` (token ids,
    logprobs, the generated text, masks); the env never saw it.
    """

    observation: Any
    action: Any
    reward: float | None
    policy_data: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Trajectory:
    """One finished episode.

    `group` numbers the task in the order the task source gave it (the `group_size` episodes of one
    task share it), `episode` numbers the episode within the collection and `batch` the batch the
    collector yielded it in. `last_observation` is what the last step returned. `done` and
    `truncated` come from the last observation: `truncated` when a budget of the env, such as its
    `max_steps`, ended the episode rather than the task. `failure` says why the episode could not
    finish (an env or the policy raised, the server went away); a failed trajectory has no
    `reward`. The timings are seconds: `seconds` from reset to the end, `policy_seconds` of it
    spent waiting for actions and `env_seconds` the rest (env calls and the collector's
    bookkeeping). `branched_at` is the number of leading steps the trajectory shares with the rest
    of its group when the collector ran the group from a shared prefix
    (`Collector(branch_at=...)`), else None.
    """

    task: Any
    group: int
    episode: int
    batch: int = 0
    steps: list[Step] = field(default_factory=list)
    last_observation: Observation | None = None
    done: bool = False
    truncated: bool = False
    failure: str | None = None
    seconds: float = 0.0
    env_seconds: float = 0.0
    policy_seconds: float = 0.0
    branched_at: int | None = None

    @property
    def reward(self) -> float | None:
        """The sum of the step rewards (a step without reward counts 0), or None if it failed."""
        if self.failure is not None:
            return None
        return sum(step.reward or 0.0 for step in self.steps)

    @property
    def failed(self) -> bool:
        """True when the episode could not finish; `failure` says why."""
        return self.failure is not None


class Batch(list[Trajectory]):
    """A list of finished trajectories made of whole groups, as a `Collector` yields them.

    `rewards()` and `advantages()` refuse a batch holding failed trajectories rather than count
    them as a reward of 0: take `completed()` first, and look at `failures()` to see what broke.
    """

    def completed(self) -> Batch:
        """The trajectories that finished, in order."""
        return Batch(trajectory for trajectory in self if not trajectory.failed)

    def failures(self) -> Batch:
        """The trajectories that could not finish, each with its `failure` reason."""
        return Batch(trajectory for trajectory in self if trajectory.failed)

    def rewards(self) -> list[float]:
        """Each trajectory's total reward, in order, ready for `torch.tensor`."""
        self._require_no_failures("rewards()")
        return [trajectory.reward or 0.0 for trajectory in self]

    def advantages(self, scale: bool = True) -> list[float]:
        """Group-relative advantages (GRPO): each reward minus its group's mean reward.

        With `scale` the difference is divided by the group's standard deviation (plus 1e-4, as
        TRL does); without it the advantages are only centred (Dr. GRPO). A group of one, or of
        equal rewards, gets advantages of 0.
        """
        self._require_no_failures("advantages()")
        groups: dict[int, list[float]] = {}
        for trajectory in self:
            groups.setdefault(trajectory.group, []).append(trajectory.reward or 0.0)
        means = {group: statistics.fmean(values) for group, values in groups.items()}
        spreads = {group: statistics.pstdev(values) for group, values in groups.items()}
        result = []
        for trajectory in self:
            centred = (trajectory.reward or 0.0) - means[trajectory.group]
            result.append(centred / (spreads[trajectory.group] + 1e-4) if scale else centred)
        return result

    def to_dataset(self) -> Any:
        """A Hugging Face `datasets.Dataset` with one row per trajectory (the `datasets` extra).

        Columns: task, group, episode, batch, steps (observation, action, reward and policy data as
        plain values), last_observation, reward (None when failed), done, truncated, failure,
        branched_at and the timings.
        """
        datasets = import_optional("datasets", extra="datasets", needed_by="Batch.to_dataset()")
        return datasets.Dataset.from_list([trajectory_row(trajectory) for trajectory in self])

    def append_jsonl(self, path: str | os.PathLike[str]) -> None:
        """Append one JSON line per trajectory to `path`, the rows of `to_dataset()`.

        `envtorch view PATH` browses the file; appending every batch of a collection to one file
        keeps the whole run.
        """
        lines = b"".join(encode(trajectory_row(trajectory)) + b"\n" for trajectory in self)
        with open(path, "ab") as file:
            file.write(lines)

    def _require_no_failures(self, helper: str) -> None:
        failed = self.failures()
        if failed:
            raise ValueError(
                f"{helper} got {len(failed)} failed trajectories (first: {failed[0].failure}); "
                "use batch.completed() to leave them out"
            )


def trajectory_row(trajectory: Trajectory) -> dict[str, Any]:
    """A trajectory as plain values: one row of `Batch.to_dataset()` and `Batch.append_jsonl()`."""
    return {
        "task": to_builtins(trajectory.task),
        "group": trajectory.group,
        "episode": trajectory.episode,
        "batch": trajectory.batch,
        "steps": [
            {
                "observation": to_builtins(step.observation),
                "action": to_builtins(step.action),
                "reward": step.reward,
                "policy_data": to_builtins(step.policy_data),
            }
            for step in trajectory.steps
        ],
        "last_observation": to_builtins(trajectory.last_observation),
        "reward": trajectory.reward,
        "done": trajectory.done,
        "truncated": trajectory.truncated,
        "failure": trajectory.failure,
        "branched_at": trajectory.branched_at,
        "seconds": trajectory.seconds,
        "env_seconds": trajectory.env_seconds,
        "policy_seconds": trajectory.policy_seconds,
    }
