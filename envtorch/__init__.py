"""envtorch: agentic execution environments with a Gymnasium-style API.

Everything a user needs is importable from here; heavy parts load on first use.
"""

from importlib import import_module
from typing import Any

from envtorch.core import (
    Action,
    Compose,
    EnvClosed,
    Environment,
    EnvtorchError,
    Observation,
    ResetNeeded,
    RewardSum,
    RewardTransform,
    State,
    Transform,
    ValidationError,
    hidden,
)
from envtorch.registry import make, register

__version__ = "0.1.0"

_LAZY = {
    "EchoEnv": "envtorch.envs.echo",
    "EchoAction": "envtorch.envs.echo",
    "EchoObservation": "envtorch.envs.echo",
    "EnvClient": "envtorch.client",
    "AsyncEnvClient": "envtorch.client",
    "LocalProcessProvider": "envtorch.providers",
    "Collector": "envtorch.collect",
    "Trajectory": "envtorch.collect",
    "MathEnv": "envtorch.envs.math",
    "MathAnswer": "envtorch.envs.math",
    "PythonEnv": "envtorch.envs.python",
    "CodeAction": "envtorch.envs.python",
    "CodeObservation": "envtorch.envs.python",
    "MathAnswerReward": "envtorch.envs.python",
    "CodeSafetyPenalty": "envtorch.envs.python",
    "CodeQualityBonus": "envtorch.envs.python",
    "MCPServer": "envtorch.tools",
    "Batch": "envtorch.collect",
    "make_task": "envtorch.tasks",
    "check_env": "envtorch.checker",
}

__all__ = [
    "Action",
    "Compose",
    "EnvClosed",
    "Environment",
    "EnvtorchError",
    "Observation",
    "ResetNeeded",
    "RewardSum",
    "RewardTransform",
    "State",
    "Transform",
    "ValidationError",
    "hidden",
    "make",
    "register",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'envtorch' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
