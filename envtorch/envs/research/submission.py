"""Reading and scoring a submission: the CSV file of predictions an agent leaves in its workspace.

The file is the agent's output, so it is hostile input: every problem becomes a
`SubmissionError` whose message says what is wrong and where.
"""

from __future__ import annotations

import math

from envtorch.metrics import Metric

SUBMISSION = "submission.csv"
HEADER = "id,target"
MAX_SUBMISSION_BYTES = 16 << 20


class SubmissionError(ValueError):
    """The submission is missing or malformed; the message says why."""


def parse(data: bytes) -> dict[int, float]:
    """The predictions of a submission file's bytes by id."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionError(f"{SUBMISSION} is not UTF-8 text: {error}") from None
    lines = text.splitlines()
    if not lines or lines[0].strip().lstrip("\ufeff") != HEADER:
        first = repr(lines[0][:80]) if lines else "nothing"
        raise SubmissionError(f"{SUBMISSION} must start with the header {HEADER!r}, not {first}")
    predictions: dict[int, float] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        identifier, prediction = _row(line, number)
        if identifier in predictions:
            raise SubmissionError(f"{SUBMISSION} line {number}: id {identifier} appears twice")
        predictions[identifier] = prediction
    return predictions


def _row(line: str, number: int) -> tuple[int, float]:
    fields = line.split(",")
    if len(fields) != 2:
        raise SubmissionError(
            f"{SUBMISSION} line {number}: expected 2 fields (id,target), got {len(fields)}"
        )
    try:
        identifier = int(fields[0])
    except ValueError:
        raise SubmissionError(
            f"{SUBMISSION} line {number}: id {fields[0][:40]!r} is not an integer"
        ) from None
    try:
        prediction = float(fields[1])
    except ValueError:
        raise SubmissionError(
            f"{SUBMISSION} line {number}: target {fields[1][:40]!r} is not a number"
        ) from None
    if not math.isfinite(prediction):
        raise SubmissionError(f"{SUBMISSION} line {number}: target {fields[1]!r} is not finite")
    return identifier, prediction


def score(
    metric: Metric, predictions: dict[int, float], labels: dict[int, float], split: str
) -> float:
    """`metric` of the predictions for the ids of `labels` (one split); predictions for other
    ids are ignored, and a missing one is a `SubmissionError`."""
    missing = [identifier for identifier in labels if identifier not in predictions]
    if missing:
        raise SubmissionError(
            f"{SUBMISSION} lacks predictions for {len(missing)} of the {len(labels)} ids of "
            f"{split}.csv (first: {missing[0]})"
        )
    try:
        return metric(list(labels.values()), [predictions[identifier] for identifier in labels])
    except ValueError as error:
        raise SubmissionError(f"cannot compute {metric.name} of {SUBMISSION}: {error}") from None
