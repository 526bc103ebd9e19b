"""The data of research tasks: a dataset bundled with scikit-learn, split into train, validation
and test, as the CSV files an episode's workspace holds and the labels the host keeps."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from envtorch.core.extras import import_optional

DATASETS = {
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
}
"""The datasets a task's `data` may name, each a loader of `sklearn.datasets`."""
SPLIT_SEED = 0
VALIDATION_SHARE = 0.2
TEST_SHARE = 0.2


@dataclass(frozen=True)
class Splits:
    """A dataset split for a task.

    `files` are the CSV texts the workspace gets by name: `train.csv` and `validation.csv` with
    `id`, the features and `target`; `test.csv` with `id` and the features only. `labels` holds
    the targets of the validation and test rows by id, which stay on the host. `hidden` are the
    host paths holding the whole dataset, which the sandbox must not show.
    """

    files: dict[str, str]
    labels: dict[str, dict[int, float]]
    hidden: tuple[str, ...]


@functools.cache
def load_splits(name: str) -> Splits:
    """The splits of the bundled dataset `name` (one of `DATASETS`), the same on every call.

    Rows are shuffled with a fixed seed and numbered in that order; the last 20% are the test
    split and the 20% before them the validation split.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown research dataset {name!r}; known: {', '.join(DATASETS)}")
    datasets = import_optional("sklearn.datasets", extra="research", needed_by="research tasks")
    numpy = import_optional("numpy", extra="research", needed_by="research tasks")
    bundle = getattr(datasets, DATASETS[name])()
    features, targets = bundle.data, bundle.target
    order = numpy.random.RandomState(SPLIT_SEED).permutation(len(targets))
    features, targets = features[order], targets[order]
    test_start = len(targets) - round(len(targets) * TEST_SHARE)
    validation_start = test_start - round(len(targets) * VALIDATION_SHARE)
    columns = ["id", *(str(feature).replace(" ", "_") for feature in bundle.feature_names)]
    ranges = {
        "train": range(0, validation_start),
        "validation": range(validation_start, test_start),
        "test": range(test_start, len(targets)),
    }
    files = {
        f"{split}.csv": _csv(columns, features, targets if split != "test" else None, rows)
        for split, rows in ranges.items()
    }
    labels = {
        split: {row: float(targets[row]) for row in ranges[split]}
        for split in ("validation", "test")
    }
    data_folder = os.path.join(os.path.dirname(datasets.__file__), "data")
    return Splits(files=files, labels=labels, hidden=(data_folder,))


def _csv(columns: list[str], features: object, targets: object, rows: range) -> str:
    """The rows as CSV text: the id, each feature, and the target unless `targets` is None."""
    header = [*columns, "target"] if targets is not None else columns
    lines = [",".join(header)]
    for row in rows:
        values = [str(row), *(_number(value) for value in features[row])]  # type: ignore[index]
        if targets is not None:
            values.append(_number(targets[row]))  # type: ignore[index]
        lines.append(",".join(values))
    return "\n".join(lines) + "\n"


def _number(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)
