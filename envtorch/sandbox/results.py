"""What one execution in a sandbox session returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ExceptionInfo:
    """An exception raised by the executed code: its type name, message and traceback."""

    type: str
    message: str
    traceback: str = ""


@dataclass(kw_only=True)
class ExecutionResult:
    """The outcome of `SandboxSession.execute`.

    `value` is the value of a trailing expression: the value itself when it is plain JSON data,
    else its (truncated) repr; None when the code did not end with an expression. `exception` is
    None on success. `timed_out` says a timeout stopped the code; `killed` says the session had to
    be ended (hard timeout, memory cap, crash) and a new one must be opened. `duration` is the
    wall-clock time of the call in seconds.
    """

    stdout: str = ""
    stderr: str = ""
    value: Any = None
    exception: ExceptionInfo | None = None
    success: bool = True
    duration: float = 0.0
    timed_out: bool = False
    killed: bool = False
