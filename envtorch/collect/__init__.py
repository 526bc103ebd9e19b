"""Collect rollouts: a policy, many envs and a task source yield batches of trajectories."""

from envtorch.collect.collector import (
    Collector,
    EnvUnavailable,
    PolicyError,
    PolicyInput,
    PolicyOutput,
)
from envtorch.collect.trajectory import Batch, Step, Trajectory

__all__ = [
    "Batch",
    "Collector",
    "EnvUnavailable",
    "PolicyError",
    "PolicyInput",
    "PolicyOutput",
    "Step",
    "Trajectory",
]
