"""What an agent needs to know about a tool: its name, signature and docstring."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A tool as a prompt shows it: `name`, `signature` like `(a: int, b: int) -> int`, `doc`."""

    name: str
    signature: str
    doc: str


def describe(fn: Callable[..., Any]) -> ToolSpec:
    """The `ToolSpec` of any Python callable (a plain function, an MCP tool, a builtin)."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    try:
        signature = str(inspect.signature(fn))
    except (TypeError, ValueError):
        signature = "(...)"
    return ToolSpec(name=name, signature=signature, doc=inspect.getdoc(fn) or "")
