"""Evaluation runs: a policy plays a task's episodes, scored by the task file's `evaluation`.

```python
report = evaluate("digits-classification", policy, episodes=4, output="run.jsonl")
report.score, report.passed        # the metric's mean over the episodes, against the threshold
```

Each finished episode is appended to `output` at once (the rows of `Batch.append_jsonl`, which
`envtorch view` shows), so a run stopped halfway resumes where it stopped: episodes already in
the file are not played again. Episode `k` resets with `seed + k` and the `k`-th task of the
file's dataset (cycled), so a resumed run plays what an uninterrupted one would have. Each row
records its `Run` (target, policy, seed, step budget): a file resumes only the run that wrote it,
and is refused with what differs otherwise.

Every episode must end: an env with neither a step budget (`max_steps`) nor a `time_limit` is
refused unless `max_steps` is given.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from envtorch.collect import PolicyError, PolicyInput, PolicyOutput, Step, Trajectory
from envtorch.collect.trajectory import trajectory_row
from envtorch.core import Environment
from envtorch.core.codec import encode
from envtorch.registry import resolve, task_file_of
from envtorch.taskfile import Evaluation


@dataclass(frozen=True)
class Run:
    """What decides a run's episodes: the target, the policy (`module:qualname`), the seed and the
    step budget given (None: the env's own). Every row of a run's file records it."""

    target: str
    policy: str
    seed: int
    max_steps: int | None


@dataclass(frozen=True)
class EpisodeResult:
    """One episode of a run: its number, steps, total reward, its score under the evaluation's
    metric (None when it has none) and, without a score, why."""

    episode: int
    steps: int
    reward: float | None
    score: float | None
    note: str = ""


@dataclass(frozen=True)
class EvaluationReport:
    """A run's outcome: each episode, the metric's mean (None when an episode has no score),
    whether it passed the threshold, and how many episodes came from an earlier run."""

    target: str
    evaluation: Evaluation
    episodes: list[EpisodeResult]
    score: float | None
    passed: bool
    resumed: int
    output: str


def evaluate(
    target: str,
    policy: Callable[[list[PolicyInput]], Any],
    *,
    episodes: int,
    output: str | os.PathLike[str],
    seed: int = 0,
    max_steps: int | None = None,
) -> EvaluationReport:
    """Play `episodes` episodes of `target` (what `envtorch.make` takes) with `policy` (a
    Collector policy, called with one input at a time), append each to `output` and score them.

    The evaluation comes from the target's task file (a `.yaml` path, or an id registered with
    one); other targets are scored by `mean_reward` without a threshold. `max_steps` replaces
    the env's step budget; an env without a step budget or time limit needs it. Episodes whose
    env failed are played again on resume; a policy that breaks its contract raises
    `PolicyError`. An `output` written by another `Run` raises `ValueError` saying what differs.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes!r}")
    task_file = task_file_of(target)
    evaluation = task_file.evaluation if task_file else Evaluation()
    tasks = list(task_file.load_tasks()) if task_file and task_file.dataset else [None]
    run = Run(target=target, policy=_name_of(policy), seed=seed, max_steps=max_steps)
    _require_same_run(Path(output), run)
    finished = _finished_episodes(Path(output), episodes)
    factory = resolve(target)
    env: Environment | None = None
    try:
        for number in range(episodes):
            if number in finished:
                continue
            env = env or _budgeted_env(factory, run)
            trajectory = _play_episode(env, policy, number, tasks[number % len(tasks)], seed)
            _append(Path(output), trajectory, run)
            if trajectory.failed:
                env.close()
                env = None
    finally:
        if env is not None:
            env.close()
    rows = _latest_rows(Path(output), episodes)
    results = [_result(evaluation, rows[number]) for number in range(episodes)]
    scores = [result.score for result in results]
    return EvaluationReport(
        target=target,
        evaluation=evaluation,
        episodes=results,
        score=evaluation.score(scores),
        passed=evaluation.passed(scores),
        resumed=len(finished),
        output=str(output),
    )


def _name_of(policy: Callable[..., Any]) -> str:
    """`module:qualname` of a function, or of the class of another callable."""
    module = getattr(policy, "__module__", None) or type(policy).__module__
    name = getattr(policy, "__qualname__", None) or type(policy).__qualname__
    return f"{module}:{name}"


def _require_same_run(output: Path, run: Run) -> None:
    """Refuse to resume from a file another run wrote, saying what differs."""
    expected = asdict(run)
    for row in _rows(output):
        recorded = row.get("run")
        if recorded == expected:
            continue
        if not isinstance(recorded, dict):
            differences = "it holds trajectories that envtorch eval did not write"
        else:
            differences = "; ".join(
                f"{field} {recorded.get(field)!r}, now {value!r}"
                for field, value in expected.items()
                if recorded.get(field) != value
            )
        raise ValueError(
            f"{output} holds another run ({differences}); delete it to start over, or write "
            "to another file (--output)"
        )


def _budgeted_env(factory: Callable[..., Environment], run: Run) -> Environment:
    """A new env with the run's step budget, refused when nothing would end its episodes."""
    env = factory() if run.max_steps is None else factory(max_steps=run.max_steps)
    if env.max_steps is None and env.time_limit is None:
        env.close()
        raise ValueError(
            f"{run.target} has no step budget or time limit, so an episode might never end; "
            "give one (--max-steps N)"
        )
    return env


def _append(output: Path, trajectory: Trajectory, run: Run) -> None:
    """Append one episode's row, with the run that played it, to the run's file."""
    with open(output, "ab") as file:
        file.write(encode({**trajectory_row(trajectory), "run": asdict(run)}) + b"\n")


def _play_episode(
    env: Environment, policy: Callable[..., Any], number: int, task: Any, seed: int
) -> Trajectory:
    """One episode, read top to bottom: reset, then ask the policy and step until done."""
    trajectory = Trajectory(task=task, group=number, episode=number)
    start = time.perf_counter()
    try:
        observation = first_observation = env.reset(seed=seed + number, task=task)
        while not observation.done:
            asked = time.perf_counter()
            action, policy_data = _ask(policy, env, observation, first_observation, trajectory)
            trajectory.policy_seconds += time.perf_counter() - asked
            result = env.step(action)
            trajectory.steps.append(
                Step(
                    observation=observation,
                    action=action,
                    reward=result.reward,
                    policy_data=policy_data,
                )
            )
            observation = result
        trajectory.last_observation = observation
        trajectory.done, trajectory.truncated = observation.done, observation.truncated
    except PolicyError:
        raise
    except Exception as error:
        trajectory.failure = f"{type(error).__name__}: {error}"
    trajectory.seconds = time.perf_counter() - start
    trajectory.env_seconds = trajectory.seconds - trajectory.policy_seconds
    return trajectory


def _ask(
    policy: Callable[..., Any],
    env: Environment,
    observation: Any,
    first_observation: Any,
    trajectory: Trajectory,
) -> tuple[Any, dict[str, Any]]:
    """The policy's action (and its data) for one episode, checked as the Collector checks it."""
    given = PolicyInput(
        observation=observation,
        first_observation=first_observation,
        history=tuple(trajectory.steps),
        group=trajectory.group,
        episode=trajectory.episode,
    )
    try:
        outputs = policy([given])
        if inspect.isawaitable(outputs):
            outputs = asyncio.run(_awaited(outputs))
    except Exception as error:
        raise PolicyError(f"the policy raised {type(error).__name__}: {error}") from error
    if not isinstance(outputs, list | tuple) or len(outputs) != 1:
        raise PolicyError(f"the policy must return a list of 1 action, got {outputs!r}")
    output = outputs[0]
    action, data = (
        (output.action, output.policy_data)
        if isinstance(output, PolicyOutput)
        else (
            output,
            {},
        )
    )
    if not isinstance(action, env.action_type):
        raise PolicyError(
            f"the policy returned a {type(action).__name__} where the env takes "
            f"{env.action_type.__name__}"
        )
    return action, dict(data)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _finished_episodes(output: Path, episodes: int) -> set[int]:
    """The episode numbers below `episodes` that `output` holds without a failure."""
    return {number for number, row in _latest_rows(output, episodes).items() if not row["failure"]}


def _latest_rows(output: Path, episodes: int) -> dict[int, dict[str, Any]]:
    """The last row of each episode number below `episodes` in a JSONL file of trajectories."""
    rows: dict[int, dict[str, Any]] = {}
    for row in _rows(output):
        number = row.get("episode")
        if isinstance(number, int) and 0 <= number < episodes:
            rows[number] = row
    return rows


def _rows(output: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file of trajectories; none when it does not exist."""
    if not output.exists():
        return []
    rows = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    return [row for row in rows if isinstance(row, dict)]


def _result(evaluation: Evaluation, row: Mapping[str, Any]) -> EpisodeResult:
    score = evaluation.episode_score(row)
    return EpisodeResult(
        episode=row["episode"],
        steps=len(row["steps"]),
        reward=row["reward"],
        score=score,
        note="" if score is not None else _why_no_score(row),
    )


def _why_no_score(row: Mapping[str, Any]) -> str:
    """What the row says about a missing score: a failure, an error, or the last exception."""
    if row["failure"]:
        return f"failed: {row['failure']}"
    last = row["last_observation"] or {}
    error = (last.get("metadata") or {}).get("error")
    if error:
        return str(error)
    exception = last.get("exception")
    if isinstance(exception, Mapping) and exception.get("message"):
        return f"{exception.get('type')}: {exception['message']}"
    return "the episode ended without a score"
