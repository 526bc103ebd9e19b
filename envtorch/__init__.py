"""envtorch: agentic execution environments with a Gymnasium-style API.

The top level holds what works with every environment: the contract (`Action`, `Observation`,
`State`, `Environment`, transforms, `hidden`), the errors, `make` and `register`, the wire
(`EnvClient`, `AsyncEnvClient`, `LocalProcessProvider`), the collector and the checker. A concrete
environment's own classes (the env, its action and observation types, its rewards) come from its
module:

```python
from envtorch import make
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.math import AnswerReward
from envtorch.envs.python import CodeAction, PythonEnv
```

Names from heavy modules load on first use, so `import envtorch` stays light.
"""

from importlib import import_module
from typing import Any

from envtorch.core import (
    Action,
    CannotFork,
    Compose,
    EnvClosed,
    Environment,
    EnvtorchError,
    MissingDependency,
    Observation,
    ResetNeeded,
    RewardSum,
    RewardTransform,
    State,
    Transform,
    ValidationError,
    hidden,
)
from envtorch.registry import UnknownEnvironment, make, register

__version__ = "0.1.0"

_LAZY = {
    "EnvClient": "envtorch.client",
    "AsyncEnvClient": "envtorch.client",
    "ServerError": "envtorch.wire",
    "LocalProcessProvider": "envtorch.providers",
    "DockerProvider": "envtorch.providers",
    "KubernetesProvider": "envtorch.providers",
    "RayProvider": "envtorch.providers",
    "Collector": "envtorch.collect",
    "PolicyInput": "envtorch.collect",
    "PolicyOutput": "envtorch.collect",
    "PolicyError": "envtorch.collect",
    "EnvUnavailable": "envtorch.collect",
    "Trajectory": "envtorch.collect",
    "Batch": "envtorch.collect",
    "MCPServer": "envtorch.tools",
    "SandboxUnavailable": "envtorch.sandbox.errors",
    "check_env": "envtorch.env_checker",
    "from_gymnasium": "envtorch.bridges.gymnasium",
    "to_gymnasium": "envtorch.bridges.gymnasium",
    "to_trl": "envtorch.bridges.trl",
}

__all__ = [
    "Action",
    "CannotFork",
    "Compose",
    "EnvClosed",
    "Environment",
    "EnvtorchError",
    "MissingDependency",
    "Observation",
    "ResetNeeded",
    "RewardSum",
    "RewardTransform",
    "State",
    "Transform",
    "UnknownEnvironment",
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
