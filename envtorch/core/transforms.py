"""Transforms turn observations into rewarded ones, inside `step()` and `reset()`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from envtorch.core.types import Action, Observation, State

TransformLike: TypeAlias = Callable[[Any, Any, Any], Any]
RewardFn: TypeAlias = Callable[[Any, Any, Any], float]


class Transform:
    """A callable `(observation, action, state) -> observation`.

    It runs on the server side, so it sees the hidden state; `action` is `None` after `reset()`.
    Subclasses implement `__call__`; any plain function of the same signature works too.
    """

    def __call__(
        self, observation: Observation, action: Action | None, state: State
    ) -> Observation:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Compose(Transform):
    """Apply transforms one after another, in the order given."""

    def __init__(self, transforms: Sequence[TransformLike]) -> None:
        if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Sequence):
            raise TypeError("Compose expects a sequence of transforms")
        for transform in transforms:
            if not callable(transform):
                raise TypeError(f"Compose got a non-callable transform: {transform!r}")
        self.transforms = list(transforms)

    def __call__(
        self, observation: Observation, action: Action | None, state: State
    ) -> Observation:
        for transform in self.transforms:
            observation = transform(observation, action, state)
        return observation

    def __repr__(self) -> str:
        inner = ", ".join(repr(transform) for transform in self.transforms)
        return f"Compose([{inner}])"


class RewardTransform(Transform):
    """A transform that adds `score(observation, action, state)` to `observation.reward`.

    Subclasses implement `score`. After `reset()`, where no action was taken, the observation
    passes through unrewarded. Inside a `RewardSum`, the sum uses `score` directly.
    """

    def score(self, observation: Observation, action: Action, state: State) -> float:
        """The reward this transform adds for one step; it may also annotate the observation."""
        raise NotImplementedError

    def __call__(
        self, observation: Observation, action: Action | None, state: State
    ) -> Observation:
        if action is None:
            return observation
        observation.reward = (observation.reward or 0.0) + self.score(observation, action, state)
        return observation


class RewardSum(Transform):
    """Add a weighted sum of reward functions to `observation.reward`.

    Each function maps `(observation, action, state)` to a float; a `RewardTransform` counts by
    its `score`. Each term's unweighted value is recorded
    in `observation.metadata["reward_terms"][name]`, so a trainer can log every term. Weights
    default to 1.0. The sum is added to the reward already present (`None` counts as 0). After
    `reset()`, where no action was taken, the observation passes through unrewarded.
    """

    def __init__(
        self, functions: Mapping[str, RewardFn], weights: Mapping[str, float] | None = None
    ) -> None:
        weights = dict(weights or {})
        unknown = set(weights) - set(functions)
        if unknown:
            raise ValueError(f"weights given for unknown reward terms: {sorted(unknown)}")
        for name, function in functions.items():
            if not callable(function):
                raise TypeError(f"reward term {name!r} is not callable: {function!r}")
        self.functions = {
            name: function.score if isinstance(function, RewardTransform) else function
            for name, function in functions.items()
        }
        self.weights = {name: float(weights.get(name, 1.0)) for name in self.functions}

    def __call__(
        self, observation: Observation, action: Action | None, state: State
    ) -> Observation:
        if action is None:
            return observation
        terms = observation.metadata.setdefault("reward_terms", {})
        total = 0.0
        for name, function in self.functions.items():
            value = float(function(observation, action, state))
            terms[name] = value
            total += self.weights[name] * value
        observation.reward = (observation.reward or 0.0) + total
        return observation

    def __repr__(self) -> str:
        return f"RewardSum({list(self.functions)}, weights={self.weights})"
