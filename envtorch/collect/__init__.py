"""Collect rollouts: a policy, many envs and a task source yield batches of trajectories."""

from envtorch.collect.collector import (
    INLINE_CALL_LIMIT,
    QUICK_CALLS_BEFORE_INLINE,
    Collector,
    PolicyInput,
)
from envtorch.collect.trajectory import Batch, Step, Trajectory

__all__ = [
    "INLINE_CALL_LIMIT",
    "QUICK_CALLS_BEFORE_INLINE",
    "Batch",
    "Collector",
    "PolicyInput",
    "Step",
    "Trajectory",
]
