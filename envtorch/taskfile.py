"""Task files: a YAML file that names an environment, its budgets, resources and evaluation.

```yaml
id: arithmetic-easy
name: Easy arithmetic
description: Small sums solved in Python.
env: python
max_steps: 4
timeout: 60                      # seconds per episode
step_timeout: 5                  # seconds per step
resources: {memory: 512M, cpu: 1}
evaluation: {metric: mean_reward, threshold: 0.8}
dataset: {path: tasks.jsonl}
```

`envtorch.make("task.yaml")` builds the configured environment, which enforces every field it is
given; a field its env cannot enforce is refused, naming the file and line. `TaskFile.load(path)`
reads the file. ML research tasks add `starter_code`, `baseline` and `training_timeout`
(`envtorch.envs.research`).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from envtorch.core import EnvtorchError
from envtorch.core.extras import import_optional
from envtorch.metrics import METRICS, Metric
from envtorch.registry import load

MEMORY_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT])(?:i?B)?\s*$", re.IGNORECASE)
_KEYWORD_FIELDS = {
    "max_steps": "max_steps",
    "time_limit": "timeout",
    "step_timeout": "step_timeout",
    "training_timeout": "training_timeout",
    "memory_mb": "resources.memory",
    "cpus": "resources.cpu",
    "gpus": "resources.gpu",
    "metric": "evaluation.metric",
    "starter_code": "starter_code",
    "baseline": "baseline",
}
"""Each keyword a task file hands its env's factory, and the field of the file it comes from."""


class TaskFileError(EnvtorchError, ValueError):
    """A task file is missing, unreadable or does not match the expected shape."""


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class Resources(_Strict):
    """What each episode may use: `memory` with a unit (`512M`, `2G`), `cpu` as a number of
    CPUs (fractions allowed) and `gpu` as a number of GPUs."""

    memory: str | int | None = None
    cpu: float | None = None
    gpu: int = 0

    def __post_init__(self) -> None:
        if self.memory is not None and not _MEMORY.match(str(self.memory)):
            raise ValueError(
                f"memory takes a size with a unit, like 512M or 2G, not {self.memory!r}"
            )
        if self.cpu is not None and self.cpu <= 0:
            raise ValueError(f"cpu must be a positive number of CPUs, not {self.cpu!r}")
        if self.gpu < 0:
            raise ValueError(f"gpu must be a number of GPUs, not {self.gpu!r}")

    @property
    def memory_mb(self) -> int | None:
        """`memory` in MiB (binary units: 1G is 1024 MiB)."""
        if self.memory is None:
            return None
        match = _MEMORY.match(str(self.memory))
        assert match is not None
        size = float(match.group(1)) * MEMORY_UNITS[match.group(2).upper()]
        return math.ceil(size / MEMORY_UNITS["M"])


class Evaluation(_Strict):
    """How a run of the task is scored: a metric of `envtorch.metrics.METRICS` and the threshold
    that the metric's mean over the episodes must reach to pass."""

    metric: str = "mean_reward"
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")

    @property
    def definition(self) -> Metric:
        """The named `Metric`: which way is better, and what computes it."""
        return METRICS[self.metric]

    def episode_score(self, row: Mapping[str, Any]) -> float | None:
        """The metric of one episode from its trajectory row (`Batch.append_jsonl`'s), or None
        when it has none.

        `mean_reward` is the episode's total reward, `success_rate` 1 for a total above 0, else
        0; a metric of predictions is the `score` of the last observation's metadata when its
        `metric` names this one and its `split` is `test` (what `submit()` reports). A failed
        episode has no score.
        """
        if row.get("failure"):
            return None
        reward = row.get("reward") or 0.0
        if self.metric == "mean_reward":
            return float(reward)
        if self.metric == "success_rate":
            return float(reward > 0)
        metadata = (row.get("last_observation") or {}).get("metadata") or {}
        reported = metadata.get("metric") == self.metric and metadata.get("split") == "test"
        score = metadata.get("score")
        if reported and isinstance(score, int | float) and not isinstance(score, bool):
            return float(score)
        return None

    def score(self, scores: Sequence[float | None]) -> float | None:
        """The mean of the episodes' scores; None without episodes or when one has no score."""
        if not scores or any(score is None for score in scores):
            return None
        return sum(score for score in scores if score is not None) / len(scores)

    def passed(self, scores: Sequence[float | None]) -> bool:
        """Whether every episode has a score and their mean reaches the threshold (in the
        metric's better direction); without a threshold, whether every episode has a score."""
        mean = self.score(scores)
        if mean is None:
            return False
        return self.threshold is None or self.definition.reaches(mean, self.threshold)


class Baseline(_Strict):
    """A baseline: a script among the starter code, and the test score it reaches."""

    script: str
    score: float


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
    """A validated task file. `env` is any target `envtorch.make` takes, such as a registered id.

    - `max_steps`, `timeout` (seconds per episode), `step_timeout` (seconds per step) and
      `training_timeout` (seconds per step that asks for the long timeout) are budgets;
    - `resources` become the episode's sandbox caps;
    - `evaluation` says how `envtorch eval` scores a run; a metric of predictions is also what
      the env computes, so it goes to the env too;
    - `starter_code` (files copied into each episode's workspace, relative to the task file)
      and `baseline` describe ML research tasks;
    - `dataset` is where the tasks given to `reset()` come from;
    - `env_kwargs` are further keyword arguments of the env, and `description` is shown to the
      agent by envs that take one.
    """

    id: str
    env: str
    name: str = ""
    description: str = ""
    env_kwargs: dict[str, Any] = {}
    max_steps: int | None = None
    timeout: float | None = None
    step_timeout: float | None = None
    training_timeout: float | None = None
    resources: Resources = Resources()
    evaluation: Evaluation = Evaluation()
    starter_code: list[str] = []
    baseline: Baseline | None = None
    dataset: DatasetRef | None = None
    source: str = ""

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TaskFile:
        """Read and validate a task file, with errors naming the file, the line and the key."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text()
            raw = yaml.safe_load(text)
        except OSError as error:
            raise TaskFileError(f"{path}: cannot read the task file: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise TaskFileError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(raw, dict):
            raise TaskFileError(f"{path}: expected a mapping of keys at the top level")
        try:
            task_file = msgspec.convert({**raw, "source": str(path)}, cls)
        except msgspec.ValidationError as error:
            keys = _error_keys(str(error))
            raise TaskFileError(f"{_where(path, text, keys)}: {_readable(error)}") from None
        task_file._check_files()
        return task_file

    @property
    def folder(self) -> Path:
        """The folder relative paths of the file start from."""
        return Path(self.source).parent if self.source else Path.cwd()

    def load_tasks(self) -> Iterable[Any]:
        """The tasks of the file's dataset reference."""
        if self.dataset is None:
            raise TaskFileError(f"{self.source or self.id}: the task file has no `dataset`")
        return _load_tasks(self.dataset, self.folder)

    def kwargs_for(self, factory: Callable[..., Any]) -> dict[str, Any]:
        """The keyword arguments the file gives its env's `factory`: `env_kwargs`, the budgets,
        the resources, a metric of predictions and the research fields.

        A field `factory` cannot take is a `TaskFileError` naming the file and line: a budget
        or a cap is never dropped silently. `description` goes only to a factory that takes it.
        """
        wanted = {
            "max_steps": self.max_steps,
            "time_limit": self.timeout,
            "step_timeout": self.step_timeout,
            "training_timeout": self.training_timeout,
            "memory_mb": self.resources.memory_mb,
            "cpus": self.resources.cpu,
            "gpus": self.resources.gpu or None,
            "metric": self.evaluation.metric if self.evaluation.definition.function else None,
            "starter_code": [str(self.folder / path) for path in self.starter_code] or None,
            "baseline": msgspec.to_builtins(self.baseline) if self.baseline else None,
        }
        wanted = {key: value for key, value in wanted.items() if value is not None}
        accepted = _accepted_keywords(inspect.unwrap(factory))
        if accepted is None:
            return {**self.env_kwargs, **wanted}
        for keyword in wanted:
            if keyword not in accepted:
                self._refuse(_KEYWORD_FIELDS[keyword], self._cannot_enforce(keyword))
        for keyword in self.env_kwargs:
            if keyword not in accepted:
                self._refuse(f"env_kwargs.{keyword}", f"env {self.env!r} takes no `{keyword}`")
        if self.description and "description" in accepted:
            wanted["description"] = self.description
        return {**self.env_kwargs, **wanted}

    def longest_step(self) -> float | None:
        """The most seconds one step may take under the file's timeouts, if it sets any."""
        timeouts = [t for t in (self.step_timeout, self.training_timeout) if t is not None]
        return max(timeouts) if timeouts else None

    def _cannot_enforce(self, keyword: str) -> str:
        if keyword == "gpus":
            return (
                f"asks for {self.resources.gpu} GPU(s), but {_no_gpu_reason()} and env "
                f"{self.env!r} runs on CPUs in the bubblewrap sandbox; a container provider "
                "with GPUs is needed"
            )
        return f"env {self.env!r} cannot enforce `{_KEYWORD_FIELDS[keyword]}`"

    def _check_files(self) -> None:
        for path in self.starter_code:
            if not (self.folder / path).is_file():
                self._refuse("starter_code", f"starter file {path!r} does not exist")
        names = [Path(path).name for path in self.starter_code]
        if self.baseline is not None and self.baseline.script not in names:
            self._refuse("baseline.script", f"{self.baseline.script!r} is not a starter file")

    def _refuse(self, field: str, message: str) -> None:
        """Raise a `TaskFileError` naming the file and the line of `field` (`resources.gpu`)."""
        where = self.source or self.id
        if self.source:
            with contextlib.suppress(OSError):
                where = _where(Path(self.source), Path(self.source).read_text(), field.split("."))
        raise TaskFileError(f"{where}: `{field}` {message}")


def _no_gpu_reason() -> str:
    if any(Path("/dev").glob("nvidia[0-9]*")):
        return "the sandbox passes no GPU through"
    return "this machine has no GPU (no /dev/nvidia*)"


def _error_keys(message: str) -> list[str]:
    """The keys of a msgspec error's path (`$.resources.cpu`), with an unknown key appended."""
    found = re.search(r"at `\$((?:\.[^`.\[]+|\[\d+\])*)`", message)
    keys = re.findall(r"\.([^.\[]+)|\[(\d+)\]", found.group(1)) if found else []
    path = [name or index for name, index in keys]
    unknown = re.search(r"unknown field `([^`]+)`", message)
    if unknown:
        path.append(unknown.group(1))
    return path


def _where(path: Path, text: str, keys: Sequence[str]) -> str:
    """`path:line` of the deepest of `keys` found in the YAML `text`, else `path`."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return str(path)
    line = None
    for key in keys:
        child = _child(node, key)
        if child is None:
            break
        node, line = child
    return f"{path}:{line + 1}" if line is not None else str(path)


def _child(node: Any, key: str) -> tuple[Any, int] | None:
    """The YAML node under `key` of a mapping (or at index `key` of a sequence) and its line."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == key:
                return value, key_node.start_mark.line
    if isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
        item = node.value[int(key)]
        return item, item.start_mark.line
    return None


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
