"""The CodeAct Python environment: actions are Python code run in a persistent sandbox."""

from envtorch.envs.python.environment import CodeAction, CodeObservation, PythonEnv
from envtorch.envs.python.rewards import CodeQualityBonus, CodeSafetyPenalty, MathAnswerReward

__all__ = [
    "CodeAction",
    "CodeObservation",
    "CodeQualityBonus",
    "CodeSafetyPenalty",
    "MathAnswerReward",
    "PythonEnv",
]
