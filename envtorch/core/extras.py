"""Optional dependencies, imported on first use, with an error that names the extra to install."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from envtorch.core.errors import MissingDependency


def import_optional(module: str, *, extra: str, needed_by: str) -> ModuleType:
    """Import `module`, which `pip install 'envtorch[extra]'` brings; `needed_by` names the caller.

    A missing package raises `MissingDependency` with one line naming the extra, e.g.
    `Batch.to_dataset() needs datasets: pip install 'envtorch[datasets]'`.
    """
    try:
        return import_module(module)
    except ModuleNotFoundError as missing:
        absent = missing.name or module
        raise MissingDependency(
            f"{needed_by} needs {absent}: pip install 'envtorch[{extra}]'"
        ) from None
