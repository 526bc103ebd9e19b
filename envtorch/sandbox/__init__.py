"""Sandboxed persistent Python sessions without Docker: bubblewrap, a warm zygote, tool callbacks.

from envtorch.sandbox import Sandbox

with Sandbox() as sandbox, sandbox.open() as session:
    result = session.execute("x = 6 * 7\\nx")
    result.value    # 42
"""

from envtorch.sandbox.errors import SandboxUnavailable, SessionDead
from envtorch.sandbox.limits import SandboxLimits
from envtorch.sandbox.results import ExceptionInfo, ExecutionResult
from envtorch.sandbox.sandbox import Sandbox
from envtorch.sandbox.session import SandboxSession

__all__ = [
    "ExceptionInfo",
    "ExecutionResult",
    "Sandbox",
    "SandboxLimits",
    "SandboxSession",
    "SandboxUnavailable",
    "SessionDead",
]
