"""Task files: a YAML file that names an environment, its budgets, resources and evaluation.

```yaml
id: arithmetic-easy
name: Easy arithmetic
description: Small sums solved in Python.
env: python
max_steps: 4
timeouts: {step: 5, episode: 60}
resources: {memory_mb: 512}
evaluation: {metric: mean_reward, threshold: 0.8}
dataset: {path: tasks.jsonl}
```

`envtorch.make("task.yaml")` builds the configured environment, which enforces the budgets;
`TaskFile.load("task.yaml")` reads the file.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec

from envtorch.core import EnvtorchError
from envtorch.core.extras import import_optional
from envtorch.registry import load


class TaskFileError(EnvtorchError, ValueError):
    """A task file is missing, unreadable or does not match the expected shape."""


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class Timeouts(_Strict):
    """Seconds allowed per step and per episode."""

    step: float | None = None
    episode: float | None = None


class Resources(_Strict):
    """Resource caps passed to environments that accept them (`memory_mb`)."""

    memory_mb: int | None = None


class Evaluation(_Strict):
    """How a run of the task is scored: a metric over episodes and the threshold to pass."""

    metric: Literal["mean_reward", "success_rate"] = "mean_reward"
    threshold: float | None = None

    def score(self, rewards: Iterable[float]) -> float:
        """The metric over the episodes' total rewards (success means a reward above 0)."""
        values = list(rewards)
        if not values:
            return 0.0
        if self.metric == "success_rate":
            return sum(value > 0 for value in values) / len(values)
        return sum(values) / len(values)

    def passed(self, rewards: Iterable[float]) -> bool:
        """Whether the score reaches the threshold (always true without a threshold)."""
        return self.threshold is None or self.score(rewards) >= self.threshold


class DatasetRef(_Strict):
    """Where the tasks come from: a local JSON/JSONL/YAML file, a HF dataset, or a generator."""

    path: str | None = None
    name: str | None = None
    split: str = "train"
    generator: str | None = None
    kwargs: dict[str, Any] = {}

    def __post_init__(self) -> None:
        given = [key for key in ("path", "name", "generator") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of `path`, `name` or `generator`, not {given or 'none'}"
            )


class TaskFile(_Strict):
    """A validated task file. `env` is any target `envtorch.make` takes, such as a registered id."""

    id: str
    env: str
    name: str = ""
    description: str = ""
    env_kwargs: dict[str, Any] = {}
    max_steps: int | None = None
    timeouts: Timeouts = Timeouts()
    resources: Resources = Resources()
    evaluation: Evaluation = Evaluation()
    dataset: DatasetRef | None = None
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> TaskFile:
        """Read and validate a task file, with errors naming the file and the key."""
        import yaml

        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as error:
            raise TaskFileError(f"{path}: cannot read the task file: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise TaskFileError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(raw, dict):
            raise TaskFileError(f"{path}: expected a mapping of keys at the top level")
        try:
            return msgspec.convert({**raw, "source": str(path)}, cls)
        except msgspec.ValidationError as error:
            raise TaskFileError(f"{path}: {_readable(error)}") from None

    def load_tasks(self) -> Iterable[Any]:
        """The tasks of the file's dataset reference."""
        if self.dataset is None:
            raise TaskFileError(f"{self.source or self.id}: the task file has no `dataset`")
        return _load_tasks(self.dataset, Path(self.source).parent if self.source else Path.cwd())

    def kwargs_for(self, factory: Callable[..., Any]) -> dict[str, Any]:
        """The keyword arguments the file gives its env's `factory`: `env_kwargs` and budgets.

        A budget `factory` cannot take is a `TaskFileError`: a budget is never dropped silently.
        """
        wanted = {
            "max_steps": self.max_steps,
            "time_limit": self.timeouts.episode,
            "step_timeout": self.timeouts.step,
            "memory_mb": self.resources.memory_mb,
        }
        wanted = {key: value for key, value in wanted.items() if value is not None}
        accepted = _accepted_keywords(inspect.unwrap(factory))
        refused = sorted(key for key in wanted if accepted is not None and key not in accepted)
        if refused:
            raise TaskFileError(
                f"{self.source or self.id}: env {self.env!r} cannot enforce {', '.join(refused)}"
            )
        return {**self.env_kwargs, **wanted}


def _readable(error: msgspec.ValidationError) -> str:
    """msgspec's message with `$.key` paths turned into plain `key` paths."""
    message = str(error).replace("`$.", "`").replace("`$`", "the top level")
    return message.replace("Object contains unknown field", "unknown key")


def _accepted_keywords(factory: Callable[..., Any]) -> set[str] | None:
    """The keyword names `factory` accepts; None when it passes `**kwargs` on to unknown code.

    For a class, `**kwargs` forwarded up the MRO are followed to the base initialisers.
    """
    if inspect.isclass(factory):
        functions = [
            vars(cls)["__init__"]
            for cls in inspect.getmro(factory)
            if cls is not object and "__init__" in vars(cls)
        ]
    else:
        functions = [factory]
    names: set[str] = set()
    for function in functions:
        parameters = inspect.signature(function).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return names
    return names if inspect.isclass(factory) else None


def _load_tasks(ref: DatasetRef, base: Path) -> Iterable[Any]:
    if ref.path is not None:
        return _read_tasks(base / ref.path)
    if ref.generator is not None:
        return load(ref.generator)(**ref.kwargs)
    if ref.name is not None:
        datasets = import_optional(
            "datasets", extra="datasets", needed_by=f"the dataset {ref.name!r} of a task file"
        )
        return datasets.load_dataset(ref.name, split=ref.split, **ref.kwargs)
    raise AssertionError("DatasetRef validates that one source is given")


def _read_tasks(path: Path) -> list[Any]:
    """The tasks of a JSON, JSONL or YAML file; `TaskFileError` naming the file otherwise."""
    import yaml

    try:
        text = path.read_text()
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if path.suffix == ".json":
            return list(json.loads(text))
        return list(yaml.safe_load(text))
    except OSError as error:
        raise TaskFileError(f"{path}: cannot read the tasks: {error.strerror}") from None
    except (ValueError, TypeError, yaml.YAMLError) as error:
        raise TaskFileError(f"{path}: not a list of tasks: {error}") from None
