"""Collect rollouts: a policy, many envs and a task source yield batches of trajectories."""

from envtorch.collect.collector import Collector, PolicyInput
from envtorch.collect.trajectory import Batch, Step, Trajectory

__all__ = [
    "Batch",
    "Collector",
    "PolicyInput",
    "Step",
    "Trajectory",
]
