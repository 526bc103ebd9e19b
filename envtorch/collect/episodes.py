"""Turn any iterable of tasks into the collector's stream of episodes.

A list, a generator, a `datasets.Dataset` or a torch `DataLoader` all work; a batching
`DataLoader`'s batches are split back into single tasks.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Episode:
    """An episode to run: its task, its group (the task's number), its number and reset seed.

    `number` counts the episodes of the collection; its `Trajectory` carries it as `episode`.
    """

    task: Any
    group: int
    number: int
    seed: int | None


def episodes(
    tasks: Iterable[Any],
    *,
    group_size: int,
    cycle: bool,
    total: int | None,
    seed: int | None,
) -> Iterator[Episode]:
    """Each task `group_size` times in a row, until `total` episodes or the tasks run out.

    With `cycle`, a source that can be iterated again starts over when it ends. The episodes of a
    group share the reset seed `seed + group` (None without a seed), so they begin alike.
    """
    number = 0
    for group, task in enumerate(_tasks(tasks, cycle)):
        group_seed = None if seed is None else seed + group
        for _ in range(group_size):
            yield Episode(task=task, group=group, number=number, seed=group_seed)
            number += 1
            if total is not None and number >= total:
                return


def _tasks(tasks: Iterable[Any], cycle: bool) -> Iterator[Any]:
    """Single tasks from the source, over and over with `cycle` when it can be iterated again."""
    reiterable = not isinstance(tasks, Iterator)
    while True:
        produced = False
        for item in tasks:
            for task in _unbatched(tasks, item):
                produced = True
                yield task
        if not (cycle and reiterable and produced):
            return


def _unbatched(source: Iterable[Any], item: Any) -> list[Any]:
    """The tasks in `item`: itself, or the rows of a batch from a batching torch DataLoader."""
    if not _is_batching_dataloader(source):
        return [item]
    if isinstance(item, dict):
        columns = {key: _column(value) for key, value in item.items()}
        sizes = {len(column) for column in columns.values()}
        if len(sizes) != 1:
            raise ValueError(f"DataLoader batch has columns of different lengths: {sorted(sizes)}")
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    if isinstance(item, (list, tuple)) and _collates_by_default(source):
        return list(zip(*(_column(column) for column in item), strict=True))
    return _column(item)


def _column(values: Any) -> list[Any]:
    """A batched column as a list of plain values (tensors and arrays through `tolist()`)."""
    if hasattr(values, "tolist"):
        return values.tolist()
    return list(values)


def _is_batching_dataloader(source: Any) -> bool:
    """True for a torch `DataLoader` that groups samples into batches."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(source, torch.utils.data.DataLoader):
        return False
    return source.batch_sampler is not None


def _collates_by_default(source: Any) -> bool:
    """True when the DataLoader uses torch's default collate, which turns rows into columns."""
    from torch.utils.data import default_collate

    return source.collate_fn is default_collate
