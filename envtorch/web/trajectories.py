"""A trajectory file as the viewer reads it: JSONL rows, or a `datasets` dataset saved to disk.

The rows are those of `Batch.to_dataset()` and `Batch.append_jsonl()`. A summary of every
trajectory stays in memory (group, episode, batch, reward, failure, length, reward terms); a whole
row, with its steps, is read from the file when it is asked for.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from envtorch.core.extras import import_optional

_TASK_PREVIEW = 120
_decode = msgspec.json.Decoder().decode


class TrajectoryFileError(ValueError):
    """The file is neither a JSONL file of trajectories nor a dataset saved to disk."""


@dataclass(frozen=True, slots=True)
class Summary:
    """One trajectory at a glance: `index` numbers the file's readable trajectories in order,
    `terms` sums its `reward_terms`, `task` is the start of its task as JSON."""

    index: int
    group: int
    episode: int
    batch: int
    reward: float | None
    failure: str | None
    steps: int
    done: bool
    truncated: bool
    terms: dict[str, float] = field(default_factory=dict)
    task: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """Which summaries to list: filters (None means any), an order, and a page of them."""

    group: int | None = None
    batch: int | None = None
    failed: bool | None = None
    min_reward: float | None = None
    max_reward: float | None = None
    min_steps: int | None = None
    max_steps: int | None = None
    sort: str = "index"
    descending: bool = False
    offset: int = 0
    limit: int = 50

    def matches(self, summary: Summary) -> bool:
        """True when `summary` passes every filter; a failed trajectory has no reward to match."""
        if self.group is not None and summary.group != self.group:
            return False
        if self.batch is not None and summary.batch != self.batch:
            return False
        if self.failed is not None and (summary.failure is not None) != self.failed:
            return False
        if self.min_steps is not None and summary.steps < self.min_steps:
            return False
        if self.max_steps is not None and summary.steps > self.max_steps:
            return False
        if self.min_reward is None and self.max_reward is None:
            return True
        if summary.reward is None:
            return False
        low = -math.inf if self.min_reward is None else self.min_reward
        high = math.inf if self.max_reward is None else self.max_reward
        return low <= summary.reward <= high


SORT_KEYS = ("index", "group", "episode", "batch", "reward", "steps")


class TrajectoryFile:
    """The trajectories of one JSONL file or saved dataset: summaries in memory, rows on demand.

    A JSONL line that is not a trajectory row is left out and named in `problems`, so one bad
    line does not hide the rest of a run.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.problems: list[str] = []
        self.summaries: list[Summary] = []
        self._locations: list[int] = []
        self._dataset: Any = None
        if self.path.is_dir():
            self._read_dataset()
        elif self.path.is_file():
            self._read_jsonl()
        else:
            raise TrajectoryFileError(f"{self.path}: no such file or directory")
        self._groups = _members_by_group(self.summaries)

    def row(self, index: int) -> dict[str, Any]:
        """The whole row of trajectory `index` (its position in `summaries`)."""
        if not 0 <= index < len(self.summaries):
            raise IndexError(f"no trajectory {index}; the file holds {len(self.summaries)}")
        if self._dataset is not None:
            return dict(self._dataset[self._locations[index]])
        with self.path.open("rb") as file:
            file.seek(self._locations[index])
            return dict(_decode(file.readline()))

    def group(self, group: int) -> list[int]:
        """The indices of the trajectories of `group`, in episode order."""
        return self._groups.get(group, [])

    def select(self, query: Query) -> tuple[int, list[Summary]]:
        """How many summaries match `query`, and the page of them it asks for."""
        matching = [summary for summary in self.summaries if query.matches(summary)]
        if query.sort != "index" or query.descending:
            matching.sort(key=_sort_key(query.sort), reverse=query.descending)
        return len(matching), matching[query.offset : query.offset + query.limit]

    def batches(self) -> list[dict[str, Any]]:
        """Per batch: its number, trajectory and failure counts, the mean reward of the finished
        trajectories and the mean of each reward term."""
        by_batch: dict[int, list[Summary]] = {}
        for summary in self.summaries:
            by_batch.setdefault(summary.batch, []).append(summary)
        return [_batch_point(number, by_batch[number]) for number in sorted(by_batch)]

    def _read_jsonl(self) -> None:
        offset = 0
        with self.path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                start, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                try:
                    summary = _summary(len(self.summaries), _decode(line))
                except (msgspec.DecodeError, RecursionError, TypeError, ValueError) as error:
                    self.problems.append(f"line {number}: {_reason(error)}")
                    continue
                self.summaries.append(summary)
                self._locations.append(start)

    def _read_dataset(self) -> None:
        datasets = import_optional("datasets", extra="datasets", needed_by="envtorch view FOLDER")
        try:
            dataset = datasets.load_from_disk(str(self.path))
        except FileNotFoundError as error:
            raise TrajectoryFileError(
                f"{self.path}: not a dataset saved with save_to_disk ({error})"
            ) from None
        if isinstance(dataset, datasets.DatasetDict):
            raise TrajectoryFileError(
                f"{self.path}: a DatasetDict of {sorted(dataset)}; give the folder of one split"
            )
        self._dataset = dataset
        for number, row in enumerate(dataset):
            try:
                self.summaries.append(_summary(len(self.summaries), row))
            except (TypeError, ValueError) as error:
                self.problems.append(f"row {number}: {_reason(error)}")
                continue
            self._locations.append(number)


def _summary(index: int, row: Any) -> Summary:
    """The summary of one row, raising `TypeError` or `ValueError` when it is not a trajectory."""
    if not isinstance(row, dict):
        raise TypeError(f"expected a JSON object, got {type(row).__name__}")
    steps = row.get("steps") or []
    if not isinstance(steps, list):
        raise TypeError("steps is not a list")
    reward = row.get("reward")
    failure = row.get("failure")
    return Summary(
        index=index,
        group=_integer(row, "group"),
        episode=_integer(row, "episode"),
        batch=_integer(row, "batch", default=0),
        reward=None if reward is None else float(reward),
        failure=None if failure is None else str(failure),
        steps=len(steps),
        done=bool(row.get("done")),
        truncated=bool(row.get("truncated")),
        terms=_reward_terms(steps, row.get("last_observation")),
        task=_preview(row.get("task")),
    )


def _integer(row: dict[str, Any], name: str, default: int | None = None) -> int:
    value = row.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} is not an integer: {value!r}")
    return value


def _reward_terms(steps: list[Any], last_observation: Any) -> dict[str, float]:
    """The summed `reward_terms` of every observation a step returned: the observations that the
    second and later steps saw, and the last one."""
    results = [step.get("observation") for step in steps[1:] if isinstance(step, dict)]
    totals: dict[str, float] = {}
    for observation in [*results, last_observation]:
        metadata = observation.get("metadata") if isinstance(observation, dict) else None
        terms = metadata.get("reward_terms") if isinstance(metadata, dict) else None
        if not isinstance(terms, dict):
            continue
        for name, value in terms.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                totals[str(name)] = totals.get(str(name), 0.0) + float(value)
    return totals


def _preview(task: Any) -> str:
    text = task if isinstance(task, str) else msgspec.json.encode(task, enc_hook=repr).decode()
    return text if len(text) <= _TASK_PREVIEW else text[: _TASK_PREVIEW - 1] + "…"


def _members_by_group(summaries: list[Summary]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for position, summary in enumerate(summaries):
        groups.setdefault(summary.group, []).append(position)
    for members in groups.values():
        members.sort(key=lambda position: summaries[position].episode)
    return groups


def _sort_key(name: str) -> Any:
    """Sort by `name`; failed trajectories (no reward) sort below every reward."""
    if name == "reward":
        return lambda summary: -math.inf if summary.reward is None else summary.reward
    return lambda summary: getattr(summary, name)


def _batch_point(number: int, members: list[Summary]) -> dict[str, Any]:
    finished = [member for member in members if member.failure is None]
    names = sorted({name for member in finished for name in member.terms})
    return {
        "batch": number,
        "trajectories": len(members),
        "failures": len(members) - len(finished),
        "mean_reward": _mean([member.reward for member in finished]),
        "terms": {
            name: _mean([member.terms.get(name, 0.0) for member in finished]) for name in names
        },
    }


def _mean(values: list[float | None]) -> float | None:
    numbers = [value for value in values if value is not None]
    return statistics.fmean(numbers) if numbers else None


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error)
