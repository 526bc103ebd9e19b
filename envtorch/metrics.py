"""The metrics a task file's `evaluation` may name, and which way each one is better.

`mean_reward` and `success_rate` are computed over episodes' rewards. The others score a
model's predictions against held-out labels, with scikit-learn (the `research` extra); an
environment that reports one puts it in its last observation's metadata as `metric` and `score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envtorch.core.extras import import_optional


@dataclass(frozen=True)
class Metric:
    """A metric: its name, which way is better, and the scikit-learn function computing it from
    `(labels, predictions)`, or None for a metric over episode rewards."""

    name: str
    higher_is_better: bool
    function: str | None = None

    @property
    def scores_predictions(self) -> bool:
        """Whether the metric scores predictions (rather than episode rewards)."""
        return self.function is not None

    def __call__(self, labels: Sequence[float], predictions: Sequence[float]) -> float:
        """The metric of `predictions` against `labels`."""
        if self.function is None:
            raise TypeError(f"{self.name} is computed over episode rewards, not predictions")
        metrics = import_optional(
            "sklearn.metrics", extra="research", needed_by=f"the {self.name} metric"
        )
        return float(getattr(metrics, self.function)(labels, predictions))

    def reaches(self, value: float, threshold: float) -> bool:
        """Whether `value` is at least as good as `threshold`."""
        return value >= threshold if self.higher_is_better else value <= threshold


METRICS = {
    metric.name: metric
    for metric in (
        Metric("mean_reward", higher_is_better=True),
        Metric("success_rate", higher_is_better=True),
        Metric("accuracy", higher_is_better=True, function="accuracy_score"),
        Metric("rmse", higher_is_better=False, function="root_mean_squared_error"),
        Metric("roc_auc", higher_is_better=True, function="roc_auc_score"),
    )
}
"""Every metric by name."""
