"""The CodeAct Python environment: actions are Python code run in a persistent sandbox."""

from typing import Any

from envtorch.envs.math import AnswerReward
from envtorch.envs.python.environment import CodeAction, CodeObservation, PythonEnv
from envtorch.envs.python.rewards import CodeQualityBonus, CodeSafetyPenalty


def python_math(**kwargs: Any) -> PythonEnv:
    """CodeAct on math tasks (`make("python-math")`): `PythonEnv` rewarded by `AnswerReward`.

    Tasks are `{"question", "answer"}` mappings, such as `envtorch.envs.math.math_tasks(...)`.
    """
    return PythonEnv(transform=AnswerReward(), **kwargs)


__all__ = [
    "CodeAction",
    "CodeObservation",
    "CodeQualityBonus",
    "CodeSafetyPenalty",
    "PythonEnv",
    "python_math",
]
