"""`ResearchEnv`: an ML research task solved with CodeAct in a sandboxed workspace."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envtorch.core import CannotFork, ResetNeeded
from envtorch.envs.python.environment import CodeAction, CodeObservation, PythonEnv
from envtorch.envs.research import submission
from envtorch.envs.research.data import load_splits
from envtorch.envs.research.submission import SUBMISSION, SubmissionError
from envtorch.metrics import METRICS, Metric

MAX_RELATIVE_SCORE = 1000.0
"""The highest reward: a metric where lower is better reaching 0 would otherwise give infinity."""


@dataclass(kw_only=True)
class ResearchAction(CodeAction):
    """Python code for the episode's namespace; `training=True` asks for the task's long
    `training_timeout` instead of its short `step_timeout`, for a step that trains a model."""

    training: bool = False


class ResearchEnv(PythonEnv):
    """An ML research task in MLGym's model: improve on a baseline, scored on held-out labels.

    Each episode's sandboxed workspace holds `train.csv` and `validation.csv` (an `id`, the
    features and the `target`), `test.csv` (the `id` and the features only: its targets never
    enter the sandbox) and the `starter_code` files, among them the baseline's script. The agent
    writes its predictions for the validation and test ids to `submission.csv` (`id,target`)
    and calls two host tools from its code:

    - `validate()` scores the validation rows with the task's `metric`, any number of times,
      and returns `{"metric", "score", "baseline_score", "split"}`;
    - `submit()` scores the test rows and ends the episode after the step; it works once.

    The reward of the last step is the test score relative to the baseline's (1.0 matches it;
    above is better, also for a metric where lower is better), and its metadata holds the raw
    `score`. A missing or malformed submission gets a reward of 0.0, the lowest, and an `error`
    in the metadata saying why; the tool raises the same message in the agent's code. When the
    step or time budget runs out before `submit()`, the submission there is scored as if
    submitted.

    A step gets `step_timeout` seconds, or `training_timeout` when its action says `training`.
    `data` names a dataset bundled with scikit-learn (`envtorch.envs.research.data.DATASETS`),
    which the sandbox hides from the agent. `baseline` is `{"script", "score"}`. Episodes cannot
    fork: their tools belong to the episode that opened the sandbox session.
    """

    action_type = ResearchAction
    metadata = {
        "name": "research",
        "description": "An ML research task: train, validate() and submit() in a sandbox.",
        "render_modes": ["ansi"],
    }

    def __init__(
        self,
        *,
        data: str,
        metric: str,
        baseline: Mapping[str, Any],
        starter_code: Sequence[str | Path] = (),
        description: str = "",
        step_timeout: float = 30.0,
        training_timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        self.metric = _prediction_metric(metric)
        self.baseline_script, self.baseline_score = _baseline(baseline)
        if training_timeout <= 0:
            raise ValueError(f"training_timeout must be positive, got {training_timeout!r}")
        super().__init__(
            tools={"validate": self._validate_tool(), "submit": self._submit_tool()},
            step_timeout=step_timeout,
            **kwargs,
        )
        self.training_timeout = training_timeout
        self.description = description
        self._splits = load_splits(data)
        self._starter = {Path(path).name: Path(path).read_text() for path in starter_code}
        self._limits = dataclasses.replace(self._limits, hidden=self._splits.hidden)
        self._submitted: dict[str, Any] | None = None
        self._validated: dict[str, Any] | None = None

    def _reset(self, *, seed: int | None, task: Any) -> CodeObservation:
        observation = super()._reset(seed=seed, task=task)
        assert self._session is not None
        self._submitted = self._validated = None
        files = {**self._splits.files, **self._starter}
        written = self._session.execute(_write_files_code(files), timeout=60)
        if not written.success:
            raise RuntimeError(f"the workspace could not be prepared: {written.exception}")
        observation.prompt = self._prompt(sorted(files))
        observation.metadata = {
            "metric": self.metric.name,
            "baseline_script": self.baseline_script,
            "baseline_score": self.baseline_score,
            "files": sorted(files),
            "step_timeout": self.step_timeout,
            "training_timeout": self.training_timeout,
        }
        return observation

    def _step(self, action: CodeAction) -> CodeObservation:
        training = isinstance(action, ResearchAction) and action.training
        self._validated = None
        observation = self._run(
            action.code, self.training_timeout if training else self.step_timeout
        )
        if self._submitted is None and not observation.killed and self._budget_spent():
            self._submit_as_it_is()
            observation.truncated = True
        if self._validated is not None:
            observation.metadata["validation"] = self._validated
        if self._submitted is not None:
            observation.done = True
            observation.reward = self._reward(self._submitted.get("score"))
            observation.metadata.update(self._submitted)
        return observation

    def _fork(self, count: int) -> list[PythonEnv]:
        raise CannotFork(
            "a research episode cannot fork: its validate() and submit() tools belong to it"
        )

    def _validate_tool(self) -> Any:
        def validate() -> dict:
            """Score submission.csv's predictions for the ids of validation.csv with the task's
            metric; call it as often as you like. Returns metric, score, baseline_score, split."""
            self._validated = self._score("validation")
            return self._validated

        return validate

    def _submit_tool(self) -> Any:
        def submit() -> dict:
            """Score submission.csv's predictions for the ids of test.csv and end the episode
            after this step; once per episode. Returns metric, score, baseline_score, split."""
            if self._submitted is not None:
                raise RuntimeError("submit() was already called; the episode ends after this step")
            try:
                self._submitted = self._score("test")
            except SubmissionError as error:
                self._submitted = self._unscored(str(error))
                raise
            return self._submitted

        return submit

    def _submit_as_it_is(self) -> None:
        """Score the submission in the workspace when the budget ran out before `submit()`."""
        try:
            self._submitted = {**self._score("test"), "submitted": "when the budget ran out"}
        except SubmissionError as error:
            self._submitted = self._unscored(f"the budget ran out before a submission: {error}")

    def _score(self, split: str) -> dict[str, Any]:
        """The metric of the workspace's submission on `split`; `SubmissionError` saying why not."""
        if self._session is None:
            raise ResetNeeded("validate() and submit() score an episode's workspace: reset first")
        try:
            data = self._session.read_file(SUBMISSION, submission.MAX_SUBMISSION_BYTES)
        except FileNotFoundError:
            raise SubmissionError(
                f"there is no {SUBMISSION} in the workspace: write your predictions there "
                f"with the header {submission.HEADER!r}"
            ) from None
        except ValueError as error:
            raise SubmissionError(str(error)) from None
        predictions = submission.parse(data)
        score = submission.score(self.metric, predictions, self._splits.labels[split], split)
        return {
            "metric": self.metric.name,
            "score": score,
            "baseline_score": self.baseline_score,
            "split": split,
        }

    def _unscored(self, error: str) -> dict[str, Any]:
        return {
            "metric": self.metric.name,
            "score": None,
            "baseline_score": self.baseline_score,
            "split": "test",
            "error": error,
        }

    def _reward(self, score: float | None) -> float:
        """The test score relative to the baseline's: 1.0 matches it, more is better."""
        if score is None:
            return 0.0
        if self.metric.higher_is_better:
            return max(score, 0.0) / self.baseline_score
        return min(self.baseline_score / max(score, 1e-300), MAX_RELATIVE_SCORE)

    def _prompt(self, files: list[str]) -> str:
        metric = self.metric.name
        return (
            f"{self.description.strip()}\n\n"
            f"Your workspace (the current directory) holds {', '.join(files)}. "
            "train.csv and validation.csv have an id, the features and the target; test.csv "
            "has the id and the features, its targets are held out.\n"
            f"Write your predictions to {SUBMISSION} with the header {submission.HEADER!r}, one "
            "row for each id of validation.csv and of test.csv. validate() scores the "
            f"validation rows ({metric}) as often as you like; submit() scores the test rows "
            "and ends the episode.\n"
            f"The baseline {self.baseline_script} reaches {metric} {self.baseline_score:.6g} "
            f"on the test split; your reward is your test {metric} relative to it (1.0 matches "
            "the baseline, more is better).\n"
            f"A step may run {self.step_timeout:g} s; an action with training=True may run "
            f"{self.training_timeout:g} s."
        )


def _prediction_metric(name: str) -> Metric:
    metric = METRICS.get(name)
    if metric is None or not metric.scores_predictions:
        known = [metric.name for metric in METRICS.values() if metric.scores_predictions]
        raise ValueError(f"metric must be one of {', '.join(known)}, got {name!r}")
    return metric


def _baseline(baseline: Mapping[str, Any]) -> tuple[str, float]:
    script, score = baseline.get("script"), baseline.get("score")
    if not isinstance(script, str) or not isinstance(score, int | float) or score <= 0:
        raise ValueError(
            f"baseline must be {{'script': name, 'score': a positive number}}, got {baseline!r}"
        )
    return script, float(score)


def _write_files_code(files: dict[str, str]) -> str:
    """Code that writes `files` (names to text) into the workspace and leaves no name behind."""
    return (
        "def _write_task_files(files):\n"
        "    for name, text in files.items():\n"
        "        with open(name, 'w', encoding='utf-8') as file:\n"
        "            file.write(text)\n"
        f"_write_task_files({files!r})\n"
        "del _write_task_files\n"
    )
