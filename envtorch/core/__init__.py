"""The core of envtorch: data types, the environment contract, transforms and the codec."""

from envtorch.core.codec import (
    decode,
    encode,
    from_builtins,
    json_schema,
    schemas,
    to_builtins,
    visible_builtins,
)
from envtorch.core.environment import Environment
from envtorch.core.errors import (
    CannotFork,
    EnvClosed,
    EnvtorchError,
    InvalidJSON,
    MissingDependency,
    ResetNeeded,
    ValidationError,
)
from envtorch.core.transforms import Compose, RewardSum, RewardTransform, Transform
from envtorch.core.types import Action, Observation, State, hidden

__all__ = [
    "Action",
    "CannotFork",
    "Compose",
    "EnvClosed",
    "Environment",
    "EnvtorchError",
    "InvalidJSON",
    "MissingDependency",
    "Observation",
    "ResetNeeded",
    "RewardSum",
    "RewardTransform",
    "State",
    "Transform",
    "ValidationError",
    "decode",
    "encode",
    "from_builtins",
    "hidden",
    "json_schema",
    "schemas",
    "to_builtins",
    "visible_builtins",
]
